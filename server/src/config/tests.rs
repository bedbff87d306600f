//! Settings resolved from flags, environment and file: defaults, precedence,
//! and errors that name the setting and the reason.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use mediator_core::PartName;

use super::*;

#[test]
fn cli_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn defaults_without_anything() {
    let s = Settings::resolve(ServeArgs::default()).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(s.events_listen.to_string(), "127.0.0.1:4010");
    assert_eq!(s.data_dir, PathBuf::from("data"));
    assert_eq!(s.site_root, None);
    let parts: Vec<_> = s.parts.iter().map(|p| p.to_string()).collect();
    assert_eq!(parts, ["voucher", "member", "points"]);
    assert_eq!(s.log_format, LogFormat::Human);
}

#[test]
fn flags_override_file() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        tmp.path(),
        "listen = \"127.0.0.1:4000\"\ndata_dir = \"/tmp/x\"\nparts = [\"a\", \"b\"]\nlog_format = \"json\"\n",
    )
    .unwrap();
    let args = ServeArgs {
        listen: Some("127.0.0.1:5000".parse().unwrap()),
        config: Some(tmp.path().to_path_buf()),
        ..Default::default()
    };
    let s = Settings::resolve(args).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:5000");
    assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(s.parts.len(), 2);
    assert_eq!(s.log_format, LogFormat::Json);
}

#[test]
fn bad_config_names_the_field() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), "listen = 12\n").unwrap();
    let err = Settings::resolve(ServeArgs {
        config: Some(tmp.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("listen"), "{err:#}");

    let err = Settings::resolve(ServeArgs {
        parts: Some(vec!["voucher".into(), "Bad Name".into()]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("parts: invalid part name \"Bad Name\""),
        "{err}"
    );

    let err = Settings::resolve(ServeArgs {
        parts: Some(vec!["a".into(), "a".into()]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
}

#[test]
fn allowed_hosts_and_audit_retention_are_checked() {
    let s = Settings::resolve(ServeArgs {
        listen: Some("10.1.2.3:3000".parse().unwrap()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.auth.allowed_hosts,
        ["localhost", "127.0.0.1", "::1", "10.1.2.3"],
        "the listen address joins the defaults"
    );
    assert_eq!(s.audit_retention, Duration::from_secs(365 * 86_400));
    let s = with_file(
        "allowed_hosts = \"Mediator.Example., [::1]\"\naudit_retention_days = 30\n",
        ServeArgs::default(),
    )
    .unwrap();
    assert_eq!(s.auth.allowed_hosts, ["mediator.example", "::1"]);
    assert_eq!(s.audit_retention, Duration::from_secs(30 * 86_400));
    for (hosts, days, field) in [
        (Some("https://mediator.example"), None, "allowed_hosts: "),
        (Some("mediator.example:3000"), None, "allowed_hosts: "),
        (Some(" , "), None, "allowed_hosts: "),
        (None, Some(0), "audit_retention_days: "),
    ] {
        let err = Settings::resolve(ServeArgs {
            allowed_hosts: hosts.map(String::from),
            audit_retention_days: days,
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with(field), "{err}");
    }
}

fn with_file(text: &str, args: ServeArgs) -> anyhow::Result<Settings> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), text).unwrap();
    Settings::resolve(ServeArgs {
        config: Some(tmp.path().to_path_buf()),
        ..args
    })
}

#[test]
fn a_submit_timeout_not_well_below_the_request_timeout_is_refused() {
    let err = Settings::resolve(ServeArgs {
        request_timeout: Some(10),
        submit_timeout: Some(6.0),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("submit_timeout: 6 s must be at most half of request_timeout (10 s)"),
        "{err}"
    );
    let err = with_file(
        "[parts.voucher]\nsubmit_timeout = 20\n[parts.member]\n",
        ServeArgs::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("parts.voucher.submit_timeout: 20 s"),
        "{err}"
    );
    // Half is enough.
    Settings::resolve(ServeArgs {
        request_timeout: Some(10),
        submit_timeout: Some(5.0),
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn part_tables_override_flags_file_and_defaults() {
    let s = with_file(
        r#"
poll_interval = 7
replay_margin = 30
resubmit_rate = 20

[parts.voucher]
poll_interval = 3
check_timeout = 1.5
submit_timeout = 2
failure_threshold = 5
recovery_threshold = 4
archive_name = "VoucherKeep"
retention_days = 3
replay_margin = 0
resubmit_rate = 200.5
resubmit_concurrency = 16
archive_lag = 120.5

[parts.member]

[parts.points]
status_url = "https://points.example/health"
submit_url = "https://points.example/api/submit"
"#,
        ServeArgs {
            poll_interval: Some(2.0),
            resubmit_concurrency: Some(8),
            ..Default::default()
        },
    )
    .unwrap();
    let names: Vec<_> = s.parts.iter().map(PartName::as_str).collect();
    assert_eq!(names, ["voucher", "member", "points"], "file order");
    let [v, m, p] = &s.part_settings[..] else {
        panic!("three parts")
    };
    // The part's table wins over flags, file and defaults.
    assert_eq!(v.poll_interval, Duration::from_secs(3));
    assert_eq!(v.check_timeout, Duration::from_millis(1500));
    assert_eq!(v.submit_timeout, Duration::from_secs(2));
    assert_eq!((v.thresholds.failure, v.thresholds.recovery), (5, 4));
    assert_eq!(v.archive_name, "VoucherKeep");
    assert_eq!(v.retention_days, 3);
    assert_eq!(v.replay_margin, Duration::ZERO);
    assert_eq!(v.resubmit_rate, 200.5);
    assert_eq!(v.resubmit_concurrency, 16);
    assert_eq!(v.archive_lag, Some(Duration::from_millis(120_500)));
    // Without a table value: flag over file over default.
    assert_eq!(m.poll_interval, Duration::from_secs(2), "flag over file");
    assert_eq!(m.check_timeout, Duration::from_secs(2), "≤ poll interval");
    assert_eq!(m.replay_margin, Duration::from_secs(30), "file");
    assert_eq!(m.resubmit_rate, 20.0);
    assert_eq!(m.resubmit_concurrency, 8);
    assert_eq!(m.submit_timeout, Duration::from_secs(10), "default");
    assert_eq!(m.archive_name, "LoyaltyMemberArchive");
    assert_eq!(m.retention_days, 10);
    assert_eq!(m.archive_lag, None, "the backend's default");
    assert_eq!(
        (m.status_url.as_deref(), m.submit_url.as_deref()),
        (None, None)
    );
    assert_eq!(
        p.status_url.as_deref(),
        Some("https://points.example/health")
    );
    assert_eq!(
        p.submit_url.as_deref(),
        Some("https://points.example/api/submit")
    );
    assert!(s.needs_simulator(), "voucher and member have no URLs");
    assert_eq!(s.longest_submit_timeout(), Duration::from_secs(10));
}

#[test]
fn saas_url_gives_every_part_its_urls_and_no_simulator() {
    let s = with_file(
        "[parts.voucher]\nsubmit_url = \"http://v.example/in\"\n[parts.points]\n",
        ServeArgs {
            saas_url: Some("http://saas.example/".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let v = &s.part_settings[0];
    assert_eq!(
        v.status_url.as_deref(),
        Some("http://saas.example/saas/voucher/status")
    );
    assert_eq!(v.submit_url.as_deref(), Some("http://v.example/in"));
    assert_eq!(
        s.part_settings[1].submit_url.as_deref(),
        Some("http://saas.example/saas/points/submit")
    );
    assert!(!s.needs_simulator());

    // Distinct hosts per part without saas_url: no simulator either.
    let s = with_file(
        "[parts.a]\nstatus_url = \"http://a/s\"\nsubmit_url = \"http://a/p\"\n\
         [parts.b]\nstatus_url = \"https://b/s\"\nsubmit_url = \"https://b/p\"\n",
        ServeArgs::default(),
    )
    .unwrap();
    assert!(!s.needs_simulator());
}

#[test]
fn bad_part_tables_name_the_key_and_the_reason() {
    let cases = [
        (
            "[parts.voucher]\npoll_intervall = 3\n",
            "parts.voucher.poll_intervall: unknown key (a part's table may set status_url, \
             submit_url, poll_interval, check_timeout,",
        ),
        (
            "[parts.voucher]\nstatus_url = 1979-05-27T07:32:00Z\n",
            "parts.voucher.status_url: must be a string, got datetime",
        ),
        (
            "[parts.voucher]\npoll_interval = 07:32:00\n",
            "parts.voucher.poll_interval: must be a number of seconds, got datetime",
        ),
        (
            "[parts.voucher]\narchive_name = [\"a\"]\n",
            "parts.voucher.archive_name: must be a string, got array",
        ),
        (
            "[parts.voucher]\nresubmit_rate = { per = 1 }\n",
            "parts.voucher.resubmit_rate: must be a number, got table",
        ),
        (
            "[parts.voucher]\nfailure_threshold = true\n",
            "parts.voucher.failure_threshold: must be an integer, got boolean",
        ),
        (
            "[parts.voucher]\npoll_interval = \"3s\"\n",
            "parts.voucher.poll_interval: must be a number of seconds, got string",
        ),
        (
            "[parts.voucher]\npoll_interval = 0\n",
            "parts.voucher.poll_interval: must be between 0.05 and 86400 seconds, got 0",
        ),
        (
            "[parts.voucher]\nfailure_threshold = 0\n",
            "parts.voucher.failure_threshold: must be between 1 and 1000, got 0",
        ),
        (
            "[parts.voucher]\nrecovery_threshold = 1.5\n",
            "parts.voucher.recovery_threshold: must be an integer, got float",
        ),
        (
            "[parts.voucher]\nstatus_url = \"ftp://x\"\n",
            "parts.voucher.status_url: must start with http:// or https://",
        ),
        (
            "[parts.voucher]\narchive_name = \"has space\"\n",
            "parts.voucher.archive_name: must be 1 to 48 letters",
        ),
        (
            "[parts.voucher]\nretention_days = 0\n",
            "parts.voucher.retention_days: must be between 1 and 3650",
        ),
        (
            "[parts.voucher]\nresubmit_rate = -1\n",
            "parts.voucher.resubmit_rate: must be between 0.01 and 100000",
        ),
        (
            "[parts.voucher]\narchive_lag = -1\n",
            "parts.voucher.archive_lag: must be",
        ),
        (
            "[parts.voucher]\nresubmit_concurrency = 1000\n",
            "parts.voucher.resubmit_concurrency: must be between 1 and 256",
        ),
        (
            "[parts.a]\narchive_name = \"X\"\n[parts.b]\narchive_name = \"X\"\n",
            "parts.b.archive_name: \"X\" is already the archive of part a",
        ),
        ("[parts.Bad]\n", "parts: invalid part name \"Bad\""),
        (
            "parts = 3\n",
            "parts: must be a list of names or [parts.<name>] tables, got integer",
        ),
        (
            "[parts]\nvoucher = 1\n",
            "parts.voucher: must be a table ([parts.voucher]), got integer",
        ),
    ];
    for (text, expected) in cases {
        let err = with_file(text, ServeArgs::default()).unwrap_err();
        assert!(
            format!("{err:#}").starts_with(expected),
            "{text:?}: {err:#}"
        );
    }
    // A table for a part the flag does not list.
    let err = with_file(
        "[parts.voucher]\n[parts.member]\n",
        ServeArgs {
            parts: Some(vec!["voucher".into()]),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "parts.member: not a configured part (parts are voucher)"
    );
}

#[test]
fn listener_limits_default_safely_and_name_a_bad_value() {
    let s = Settings::resolve(ServeArgs::default()).unwrap();
    assert_eq!(s.connections.header_read_timeout, Duration::from_secs(10));
    assert_eq!(s.connections.idle_timeout, Duration::from_secs(90));
    assert_eq!(s.connections.max_connections, 512);
    assert_eq!(s.events_connections.max_connections, 256);
    assert_eq!(
        s.events_connections.header_read_timeout,
        s.connections.header_read_timeout
    );
    assert_eq!(s.events_request_timeout, Duration::from_secs(30));
    assert_eq!(s.max_stream_subscribers, 128);
    assert!(s.events_allowed_hosts.is_empty());
    assert!(!s.events_allow_private_destinations);
    let s = with_file(
        "header_read_timeout = 2.5\nidle_timeout = 30\nmax_connections = 100\n\
         max_stream_subscribers = 10\nevents_allowed_hosts = \"eb.internal\"\n\
         events_request_timeout = 5\nevents_max_connections = 8\n\
         events_allow_private_destinations = true\n",
        ServeArgs::default(),
    )
    .unwrap();
    assert_eq!(
        s.connections.header_read_timeout,
        Duration::from_millis(2500)
    );
    assert_eq!(s.connections.idle_timeout, Duration::from_secs(30));
    assert_eq!(s.connections.max_connections, 100);
    assert_eq!(s.max_stream_subscribers, 10);
    assert_eq!(s.events_allowed_hosts, ["eb.internal"]);
    assert_eq!(s.events_request_timeout, Duration::from_secs(5));
    assert_eq!(s.events_connections.max_connections, 8);
    assert!(s.events_allow_private_destinations);
    for (args, expected) in [
        (
            ServeArgs {
                header_read_timeout: Some(0.0),
                ..Default::default()
            },
            "header_read_timeout: must be between 0.1 and 3600 seconds, got 0",
        ),
        (
            ServeArgs {
                idle_timeout: Some(f64::NAN),
                ..Default::default()
            },
            "idle_timeout: must be between 0.1 and 86400 seconds, got NaN",
        ),
        (
            ServeArgs {
                max_connections: Some(0),
                ..Default::default()
            },
            "max_connections: must be between 1 and 1000000, got 0",
        ),
        (
            ServeArgs {
                max_stream_subscribers: Some(0),
                ..Default::default()
            },
            "max_stream_subscribers: must be between 1 and 1000000, got 0",
        ),
        (
            ServeArgs {
                events_request_timeout: Some(-1.0),
                ..Default::default()
            },
            "events_request_timeout: must be between 0.1 and 3600 seconds, got -1",
        ),
    ] {
        assert_eq!(Settings::resolve(args).unwrap_err().to_string(), expected);
    }
}

#[test]
fn serve_flags_work_without_the_subcommand() {
    let cli = Cli::try_parse_from(["mediator", "--listen", "127.0.0.1:9"]).unwrap();
    assert!(cli.command.is_none());
    assert_eq!(cli.serve.listen.unwrap().port(), 9);
    let cli = Cli::try_parse_from(["mediator", "serve", "--data-dir", "d"]).unwrap();
    assert!(matches!(cli.command, Some(Command::Serve(a)) if a.data_dir == Some("d".into())));
}
