//! Moved from mediator-core's `access` unit tests: they run on SQLite.

use crate::support::{self};
use mediator_core::access::*;
use store::Database;

#[tokio::test]
async fn sessions_and_tokens_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let access = support::access(Database::open(dir.path()).unwrap());
    access
        .add_user("ann", Role::Operator, "pass-word-1")
        .await
        .unwrap();
    assert!(matches!(
        access.add_user("ann", Role::Viewer, "pass-word-1").await,
        Err(AccessError::UserExists(_))
    ));
    assert!(matches!(
        access.verify_password("ann", "nope-nope").await,
        Err(AccessError::BadCredentials)
    ));
    assert!(matches!(
        access.verify_password("bob", "pass-word-1").await,
        Err(AccessError::BadCredentials)
    ));
    let p = access.verify_password("ann", "pass-word-1").await.unwrap();
    let s = access.create_session(&p).await.unwrap();
    let back = access.session(&s.token).await.unwrap().unwrap();
    assert_eq!((back.name.as_str(), back.role), ("ann", Role::Operator));
    assert_eq!(back.csrf.as_deref(), Some(s.csrf.as_str()));
    access.end_session(&s.token).await.unwrap();
    assert!(access.session(&s.token).await.unwrap().is_none());

    let e = access
        .add_token("ann", Role::Admin, "ci")
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("role: admin is above"), "{e}");
    let (id, secret) = access.add_token("ann", Role::Viewer, "ci").await.unwrap();
    let t = access.token(&secret).await.unwrap().unwrap();
    assert_eq!((t.role, t.via), (Role::Viewer, Via::Token));
    assert!(access.token("mdt_unknown").await.unwrap().is_none());
    assert_eq!(access.list_tokens().await.unwrap()[0].id, id);
    access.remove_user("ann").await.unwrap();
    assert!(
        access.token(&secret).await.unwrap().is_none(),
        "tokens go with their user"
    );
    assert!(access.list_tokens().await.unwrap().is_empty());
}
