//! Users, sessions and tokens on two replicas.

use super::*;

/// Users, sessions and tokens on two handles of one storage (two
/// replicas): a user added on one signs in on the other, a session opened
/// on one is found on the other until it ends or its user goes (even if a
/// user of the same name is added again), tokens carry their user's
/// current role and go with their user.
pub async fn check_access(
    a: &dyn crate::storage::access::AccessStore,
    b: &dyn crate::storage::access::AccessStore,
) {
    use crate::access::Role;
    use crate::storage::access::{StoredSession, StoredUser};

    let user = |name: &str, role, at| StoredUser {
        name: name.into(),
        role,
        password_hash: format!("$argon2id$fake${name}"),
        created_at: t(at),
    };
    assert_eq!(a.user_count().await.expect("count"), 0);
    assert!(a
        .insert_user(&user("vic", Role::Viewer, 1))
        .await
        .expect("insert"));
    assert!(b
        .insert_user(&user("ann", Role::Operator, 2))
        .await
        .expect("insert"));
    assert!(
        !b.insert_user(&user("vic", Role::Admin, 3))
            .await
            .expect("insert"),
        "a taken name"
    );
    assert_eq!(b.user_count().await.expect("count"), 2);
    let users = a.users().await.expect("users");
    let names: Vec<(&str, Role)> = users.iter().map(|u| (u.name.as_str(), u.role)).collect();
    assert_eq!(
        names,
        [("ann", Role::Operator), ("vic", Role::Viewer)],
        "by name"
    );
    assert_eq!(users[1].created_at, t(1));
    assert_eq!(
        b.credentials("vic").await.expect("credentials"),
        Some((Role::Viewer, "$argon2id$fake$vic".to_string()))
    );
    assert_eq!(b.credentials("nobody").await.expect("credentials"), None);

    let session = |hash: u8, user: &str, at: i64, hours: i64| StoredSession {
        token_hash: vec![hash; 32],
        user: user.into(),
        csrf: format!("csrf-{hash}"),
        created_at: t(at),
        expires_at: t(at + hours * 3600),
    };
    a.insert_session(&session(1, "ann", 10, 12))
        .await
        .expect("session");
    a.insert_session(&session(2, "vic", 10, 1))
        .await
        .expect("session");
    assert_eq!(
        b.session(&[1; 32], t(20)).await.expect("session"),
        Some(("ann".to_string(), Role::Operator, "csrf-1".to_string()))
    );
    assert_eq!(
        b.session(&[2; 32], t(10 + 3600)).await.expect("session"),
        None,
        "ended"
    );
    assert_eq!(
        b.session(&[9; 32], t(20)).await.expect("session"),
        None,
        "unknown"
    );
    b.delete_session(&[1; 32]).await.expect("end");
    b.delete_session(&[9; 32]).await.expect("end unknown");
    assert_eq!(
        a.session(&[1; 32], t(20)).await.expect("session"),
        None,
        "signed out"
    );

    let t1 = a
        .insert_token(&[3; 32], "ann", Role::Viewer, "grafana", t(30))
        .await
        .expect("token");
    let t2 = b
        .insert_token(&[4; 32], "vic", Role::Viewer, "script", t(31))
        .await
        .expect("token");
    assert!(t1 < t2, "ids increase: {t1} {t2}");
    let tokens = a.tokens().await.expect("tokens");
    let listed: Vec<(i64, &str, &str)> = tokens
        .iter()
        .map(|t| (t.id, t.user.as_str(), t.label.as_str()))
        .collect();
    assert_eq!(
        listed,
        [(t1, "ann", "grafana"), (t2, "vic", "script")],
        "oldest first"
    );
    assert_eq!(tokens[0].created_at, t(30));
    assert_eq!(tokens[0].last_used_at, None);
    let found = b.token(&[3; 32]).await.expect("token").expect("found");
    assert_eq!(
        (found.id, found.user.as_str(), found.role, found.user_role),
        (t1, "ann", Role::Viewer, Role::Operator)
    );
    b.touch_token(t1, t(40)).await.expect("touch");
    assert_eq!(
        a.token(&[3; 32])
            .await
            .expect("token")
            .expect("found")
            .last_used_at,
        Some(t(40))
    );
    assert_eq!(a.token(&[8; 32]).await.expect("token"), None);
    assert!(a.delete_token(t1).await.expect("delete"));
    assert!(!b.delete_token(t1).await.expect("delete"), "already gone");
    assert_eq!(b.token(&[3; 32]).await.expect("token"), None);

    // Removing a user ends its sessions and tokens, also for a user later
    // added again under the same name.
    a.insert_session(&session(5, "vic", 50, 12))
        .await
        .expect("session");
    assert!(b.delete_user("vic").await.expect("delete"));
    assert!(!a.delete_user("vic").await.expect("delete"), "already gone");
    assert!(a
        .insert_user(&user("vic", Role::Admin, 60))
        .await
        .expect("insert"));
    assert_eq!(b.session(&[5; 32], t(70)).await.expect("session"), None);
    assert_eq!(b.token(&[4; 32]).await.expect("token"), None);
    assert!(b.tokens().await.expect("tokens").is_empty());
    assert_eq!(a.user_count().await.expect("count"), 2);
}
