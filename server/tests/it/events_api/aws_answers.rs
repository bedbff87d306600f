//! The wire API answers as AWS does, checked through aws-sdk-eventbridge:
//! response shapes, error codes and messages as recorded against AWS.

use super::*;
use aws_sdk_eventbridge::types::{
    ConnectionOAuthHttpMethod, ConnectionState, CreateConnectionOAuthClientRequestParameters,
    CreateConnectionOAuthRequestParameters,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_empty_lists_and_opaque_tokens() {
    let app = spawn_app().await;
    let c = &app.client;
    let none = "nothing-has-this-name";
    let rules = c.list_rules().name_prefix(none).send().await.unwrap();
    assert_eq!(
        rules.rules,
        Some(vec![]),
        "present and empty, as AWS answers"
    );
    let buses = c.list_event_buses().name_prefix(none).send().await.unwrap();
    assert_eq!(buses.event_buses, Some(vec![]));
    let archives = c.list_archives().name_prefix(none).send().await.unwrap();
    assert_eq!(archives.archives, Some(vec![]));
    let replays = c.list_replays().name_prefix(none).send().await.unwrap();
    assert_eq!(replays.replays, Some(vec![]));
    let conns = c.list_connections().name_prefix(none).send().await.unwrap();
    assert_eq!(conns.connections, Some(vec![]));
    let dests = c
        .list_api_destinations()
        .name_prefix(none)
        .send()
        .await
        .unwrap();
    assert_eq!(dests.api_destinations, Some(vec![]));
    c.put_rule()
        .name("lonely")
        .event_pattern(r#"{"source": ["x"]}"#)
        .send()
        .await
        .unwrap();
    let targets = c
        .list_targets_by_rule()
        .rule("lonely")
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets, Some(vec![]));

    for name in ["page-a", "page-b", "page-c"] {
        c.put_rule()
            .name(name)
            .event_pattern(r#"{"source": ["x"]}"#)
            .send()
            .await
            .unwrap();
    }
    let first = c
        .list_rules()
        .name_prefix("page-")
        .limit(2)
        .send()
        .await
        .unwrap();
    let token = first.next_token().unwrap().to_string();
    assert!(token.parse::<i64>().is_err(), "opaque: {token}");
    let rest = c
        .list_rules()
        .name_prefix("page-")
        .next_token(&token)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = first
        .rules()
        .iter()
        .chain(rest.rules())
        .filter_map(|r| r.name())
        .collect();
    assert_eq!(names, ["page-a", "page-b", "page-c"]);
    assert_eq!(rest.next_token(), None);
    let err = c
        .list_rules()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::common::service_error(err).0, "ValidationException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_connection_states_and_secret_names() {
    let app = spawn_app().await;
    let c = &app.client;
    let oauth = c
        .create_connection()
        .name("oauth")
        .authorization_type(ConnectionAuthorizationType::OauthClientCredentials)
        .auth_parameters(
            CreateConnectionAuthRequestParameters::builder()
                .o_auth_parameters(
                    CreateConnectionOAuthRequestParameters::builder()
                        .authorization_endpoint("https://example.com/oauth")
                        .http_method(ConnectionOAuthHttpMethod::Post)
                        .client_parameters(
                            CreateConnectionOAuthClientRequestParameters::builder()
                                .client_id("id")
                                .client_secret("secret")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth.connection_state(),
        Some(&ConnectionState::Authorizing)
    );
    let described = c.describe_connection().name("oauth").send().await.unwrap();
    assert_eq!(
        described.connection_state(),
        Some(&ConnectionState::Authorizing)
    );
    let secret = described.secret_arn().unwrap();
    let id = secret
        .strip_prefix(
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:events!connection/oauth/",
        )
        .unwrap_or_else(|| panic!("{secret}"));
    let (uuid, suffix) = id.rsplit_once('-').unwrap();
    assert_eq!(uuid.len(), 36, "{secret}");
    assert!(
        !oauth.connection_arn().unwrap().ends_with(uuid),
        "the secret has its own id"
    );
    assert_eq!(suffix.len(), 6, "{secret}");
    assert!(
        suffix.chars().all(|c| c.is_ascii_alphanumeric()),
        "{secret}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_replay_of_an_empty_window_has_no_last_replayed_time() {
    let app = spawn_app().await;
    let c = &app.client;
    let bus_arn = "arn:aws:events:us-east-1:000000000000:event-bus/default";
    let archive_arn = c
        .create_archive()
        .archive_name("quiet")
        .event_source_arn(bus_arn)
        .send()
        .await
        .unwrap()
        .archive_arn()
        .unwrap()
        .to_string();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    c.start_replay()
        .replay_name("nothing-to-replay")
        .event_source_arn(&archive_arn)
        .event_start_time(secs(now - 3_600_000))
        .event_end_time(secs(now - 1_800_000))
        .destination(to_bus(bus_arn))
        .send()
        .await
        .unwrap();
    let done = replay_completed(c, "nothing-to-replay").await;
    assert_eq!(done.event_last_replayed_time(), None);
    assert!(done.replay_end_time().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_archive_and_replay_errors_are_aws_codes() {
    let app = spawn_app().await;
    let c = &app.client;
    let err = c
        .create_archive()
        .archive_name("test-archive")
        .event_source_arn("arn:aws:events:us-east-1:123456789012:event-bus/doesnotexist")
        .retention_days(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Event bus doesnotexist does not exist.".into()
        )
    );
    let err = c
        .list_archives()
        .event_source_arn("arn:aws:events:us-east-1:000000000000:event-bus/doesnotexist")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Event bus doesnotexist does not exist.".into()
        )
    );

    let default_bus = "arn:aws:events:us-east-1:000000000000:event-bus/default";
    let archive_arn = c
        .create_archive()
        .archive_name("kept")
        .event_source_arn(default_bus)
        .send()
        .await
        .unwrap()
        .archive_arn()
        .unwrap()
        .to_string();
    let start = c
        .start_replay()
        .replay_name("r")
        .event_start_time(secs(1_700_000_060_000))
        .event_end_time(secs(1_700_000_120_000));
    let err = start
        .clone()
        .event_source_arn("arn:aws:events:us-east-1:000000000000:archive/doesnotexist")
        .destination(to_bus(default_bus))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ValidationException".into(),
            "Parameter EventSourceArn is not valid. Reason: Archive doesnotexist does not exist."
                .into()
        )
    );
    let missing_bus = "arn:aws:events:us-east-1:000000000000:event-bus/doesnotexist";
    let err = start
        .clone()
        .event_source_arn(&archive_arn)
        .destination(to_bus(missing_bus))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Event bus doesnotexist does not exist.".into()
        )
    );
    let err = c
        .start_replay()
        .replay_name("r")
        .event_source_arn(&archive_arn)
        .event_start_time(secs(1_700_000_120_000))
        .event_end_time(secs(1_700_000_060_000))
        .destination(to_bus(default_bus))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ValidationException".into(),
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime."
                .into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_validation_as_aws_words_it() {
    let app = spawn_app().await;
    let c = &app.client;
    for bad in [
        "rate(10 seconds)",
        "rate(1 minutes)",
        "rate(10 MINUTES)",
        "cron(INVALID)",
        "cron(0 1 * * * *)",
    ] {
        let err = c
            .put_rule()
            .name("scheduled")
            .schedule_expression(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            crate::common::service_error(err),
            (
                "ValidationException".into(),
                "Parameter ScheduleExpression is not valid.".into()
            ),
            "{bad}"
        );
    }
    c.put_rule()
        .name("scheduled")
        .schedule_expression("cron(0/5 8-17 ? * MON-FRI *)")
        .send()
        .await
        .unwrap();
    c.create_event_bus().name("custom").send().await.unwrap();
    let err = c
        .put_rule()
        .name("scheduled")
        .event_bus_name("custom")
        .schedule_expression("rate(1 minute)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err).1,
        "ScheduleExpression is supported only on the default event bus."
    );

    let long = "This should fail with two errors 123467890123412341234123412341234";
    let err = c
        .create_connection()
        .name(long)
        .authorization_type(ConnectionAuthorizationType::from("INVALID"))
        .auth_parameters(CreateConnectionAuthRequestParameters::builder().build())
        .send()
        .await
        .unwrap_err();
    let (code, message) = crate::common::service_error(err);
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with(&format!(
            "3 validation errors detected: Value '{long}' at 'name'"
        )),
        "{message}"
    );
    assert!(message.ends_with("Value 'INVALID' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"), "{message}");

    let err = c
        .create_api_destination()
        .name("dest")
        .connection_arn("invalid-connection-arn")
        .invocation_endpoint("https://example.com")
        .http_method(ApiDestinationHttpMethod::from("INVALID_METHOD"))
        .send()
        .await
        .unwrap_err();
    let message = crate::common::service_error(err).1;
    assert!(
        message.starts_with(
            "2 validation errors detected: Value 'invalid-connection-arn' at 'connectionArn'"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "Member must satisfy enum value set: [HEAD, POST, PATCH, DELETE, PUT, GET, OPTIONS]"
        ),
        "{message}"
    );

    let entry = PutEventsRequestEntry::builder()
        .source("core.update-account-command")
        .detail_type("core.update-account-command")
        .detail(r#"{"command": "update-account"}"#)
        .build();
    let err = c
        .put_events()
        .set_entries(Some(vec![entry; 11]))
        .send()
        .await
        .unwrap_err();
    let (code, message) = crate::common::service_error(err);
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with("1 validation error detected: Value '[PutEventsRequestEntry(time=null, source=core.update-account-command, resources=null, detailType=core.update-account-command, detail={\"command\": \"update-account\"}, eventBusName=null, traceHeader=null, kmsKeyIdentifier=null, internalMetadata=null), "),
        "{message}"
    );
    assert!(
        message.ends_with("]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"),
        "{message}"
    );
}

fn sdk_tag(k: &str, v: &str) -> aws_sdk_eventbridge::types::Tag {
    aws_sdk_eventbridge::types::Tag::builder()
        .key(k)
        .value(v)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_tags_on_buses_and_rules() {
    let app = spawn_app().await;
    let c = &app.client;
    let bus_arn = c
        .create_event_bus()
        .name("tagged")
        .tags(sdk_tag("tag1", "value1"))
        .tags(sdk_tag("tag2", "value2"))
        .send()
        .await
        .unwrap()
        .event_bus_arn
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&bus_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags(),
        [sdk_tag("tag1", "value1"), sdk_tag("tag2", "value2")]
    );
    let rule_arn = c
        .put_rule()
        .name("r")
        .event_bus_name("tagged")
        .event_pattern(r#"{"source": ["x"]}"#)
        .tags(sdk_tag("team", "a"))
        .send()
        .await
        .unwrap()
        .rule_arn
        .unwrap();
    c.tag_resource()
        .resource_arn(&rule_arn)
        .tags(sdk_tag("env", "test"))
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(&rule_arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&rule_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags, Some(vec![sdk_tag("env", "test")]));
    let err = c
        .list_tags_for_resource()
        .resource_arn("arn:aws:events:us-east-1:000000000000:rule/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Rule missing does not exist on EventBus default.".into()
        )
    );
    let err = c
        .tag_resource()
        .resource_arn("arn:aws:events:us-east-1:000000000000:event-bus/missing")
        .tags(sdk_tag("k", "v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Event bus missing does not exist.".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_permissions_show_in_the_bus_policy() {
    let app = spawn_app().await;
    let c = &app.client;
    c.create_event_bus().name("shared").send().await.unwrap();
    c.put_permission()
        .event_bus_name("shared")
        .action("events:PutEvents")
        .principal("111111111111")
        .statement_id("account")
        .send()
        .await
        .unwrap();
    c.put_permission()
        .event_bus_name("shared")
        .action("events:PutEvents")
        .principal("*")
        .statement_id("org")
        .condition(
            aws_sdk_eventbridge::types::Condition::builder()
                .r#type("StringEquals")
                .key("aws:PrincipalOrgID")
                .value("o-1234567890")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let bus = c.describe_event_bus().name("shared").send().await.unwrap();
    let policy: serde_json::Value = serde_json::from_str(bus.policy().unwrap()).unwrap();
    let bus_arn = "arn:aws:events:us-east-1:000000000000:event-bus/shared";
    assert_eq!(
        policy,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "account", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                 "Action": "events:PutEvents", "Resource": bus_arn},
                {"Sid": "org", "Effect": "Allow", "Principal": "*",
                 "Action": "events:PutEvents", "Resource": bus_arn,
                 "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}}},
            ]
        })
    );
    let err = c
        .remove_permission()
        .event_bus_name("shared")
        .statement_id("non-existing-sid")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Statement with the provided id does not exist.".into()
        )
    );
    c.remove_permission()
        .event_bus_name("shared")
        .remove_all_permissions(true)
        .send()
        .await
        .unwrap();
    let bus = c.describe_event_bus().name("shared").send().await.unwrap();
    assert_eq!(bus.policy(), None);
    let err = c
        .put_permission()
        .event_bus_name("missing")
        .action("events:PutEvents")
        .principal("*")
        .statement_id("s")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Event bus missing does not exist.".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_update_and_deauthorize_connections_and_destinations() {
    use aws_sdk_eventbridge::types::{
        CreateConnectionBasicAuthRequestParameters, UpdateConnectionAuthRequestParameters,
        UpdateConnectionBasicAuthRequestParameters,
    };
    let app = spawn_app().await;
    let c = &app.client;
    let conn_arn = c
        .create_connection()
        .name("saas")
        .authorization_type(ConnectionAuthorizationType::Basic)
        .auth_parameters(
            CreateConnectionAuthRequestParameters::builder()
                .basic_auth_parameters(
                    CreateConnectionBasicAuthRequestParameters::builder()
                        .username("user")
                        .password("pass")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .connection_arn
        .unwrap();
    let updated = c
        .update_connection()
        .name("saas")
        .auth_parameters(
            UpdateConnectionAuthRequestParameters::builder()
                .basic_auth_parameters(
                    UpdateConnectionBasicAuthRequestParameters::builder()
                        .username("new_user")
                        .password("new_pass")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(updated.connection_arn(), Some(conn_arn.as_str()));
    assert_eq!(
        updated.connection_state(),
        Some(&ConnectionState::Authorized)
    );
    assert!(updated.last_authorized_time().is_some());
    let described = c.describe_connection().name("saas").send().await.unwrap();
    assert_eq!(
        described
            .auth_parameters()
            .unwrap()
            .basic_auth_parameters()
            .unwrap()
            .username(),
        Some("new_user")
    );
    let deauthorized = c
        .deauthorize_connection()
        .name("saas")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deauthorized.connection_state(),
        Some(&ConnectionState::Deauthorizing)
    );
    let described = c.describe_connection().name("saas").send().await.unwrap();
    assert_eq!(
        described.connection_state(),
        Some(&ConnectionState::Deauthorized)
    );

    c.create_api_destination()
        .name("dest")
        .connection_arn(&conn_arn)
        .invocation_endpoint("https://example.com/api")
        .http_method(ApiDestinationHttpMethod::Post)
        .send()
        .await
        .unwrap();
    let updated = c
        .update_api_destination()
        .name("dest")
        .description("Updated API destination")
        .invocation_endpoint("https://example.com/api/v2")
        .http_method(ApiDestinationHttpMethod::Put)
        .send()
        .await
        .unwrap();
    assert!(updated.api_destination_arn().is_some());
    let d = c
        .describe_api_destination()
        .name("dest")
        .send()
        .await
        .unwrap();
    assert_eq!(d.description(), Some("Updated API destination"));
    assert_eq!(d.invocation_endpoint(), Some("https://example.com/api/v2"));
    assert_eq!(d.http_method(), Some(&ApiDestinationHttpMethod::Put));
    let err = c
        .update_api_destination()
        .name("missing")
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".into(),
            "Failed to describe the api-destination(s). An api-destination 'missing' does not exist."
                .into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_list_rule_names_by_target_pages_by_name() {
    let app = spawn_app().await;
    let c = &app.client;
    let queue = "arn:aws:sqs:us-east-1:000000000000:shared";
    for (rule, arn) in [
        ("by-target-c", queue),
        ("by-target-a", queue),
        ("by-target-b", queue),
        (
            "by-target-other",
            "arn:aws:sqs:us-east-1:000000000000:elsewhere",
        ),
    ] {
        c.put_rule()
            .name(rule)
            .event_pattern(r#"{"source": ["x"]}"#)
            .send()
            .await
            .unwrap();
        c.put_targets()
            .rule(rule)
            .targets(Target::builder().id("t").arn(arn).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    let first = c
        .list_rule_names_by_target()
        .target_arn(queue)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.rule_names(), ["by-target-a", "by-target-b"]);
    let rest = c
        .list_rule_names_by_target()
        .target_arn(queue)
        .limit(2)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.rule_names(), ["by-target-c"]);
    assert_eq!(rest.next_token(), None);
    let none = c
        .list_rule_names_by_target()
        .target_arn("arn:aws:sqs:us-east-1:000000000000:nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(
        none.rule_names,
        Some(vec![]),
        "present and empty, as AWS answers"
    );
    let err = c
        .list_rule_names_by_target()
        .target_arn(queue)
        .event_bus_name("no-such-bus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err),
        (
            "ResourceNotFoundException".to_string(),
            "Event bus no-such-bus does not exist.".to_string()
        )
    );
    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}
