//! The `mediator` binary's non-serving commands, run as a user would.

use std::process::Command;

fn mediator(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mediator"))
        .args(args)
        .output()
        .expect("run mediator");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const EVENT: &str = r#"{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"SaaS status","source":"service-loyalty-vendor-mediator","account":"111122223333","time":"2026-11-10T13:15:30Z","region":"eu-west-1","resources":[],"detail":{"metadata":{"domain":"LEGO-LOYALTY","service":"service-loyalty-vendor-mediator","category":"task-status","type":"voucher","status":"retry"},"data":{"loyalty_request_id":"AbLh"}}}"#;

#[test]
fn matching_pattern_prints_true() {
    let pattern = r#"{"detail":{"metadata":{"type":["voucher"],"status":["retry"]}},"replay-name":[{"exists":false}]}"#;
    let (code, out, err) = mediator(&[
        "test-event-pattern",
        "--event-pattern",
        pattern,
        "--event",
        EVENT,
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "true\n", ""));
}

#[test]
fn non_matching_pattern_prints_false() {
    let pattern = r#"{"detail":{"metadata":{"status":["submitted"]}}}"#;
    let (code, out, _) = mediator(&[
        "test-event-pattern",
        "--event-pattern",
        pattern,
        "--event",
        EVENT,
    ]);
    assert_eq!((code, out.as_str()), (0, "false\n"));
}

#[test]
fn files_are_read_with_at() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pattern.json");
    let e = dir.path().join("event.json");
    std::fs::write(&p, r#"{"source":[{"prefix":"service-loyalty"}]}"#).unwrap();
    std::fs::write(&e, EVENT).unwrap();
    let (code, out, _) = mediator(&[
        "test-event-pattern",
        "--event-pattern",
        &format!("@{}", p.display()),
        "--event",
        &format!("@{}", e.display()),
    ]);
    assert_eq!((code, out.as_str()), (0, "true\n"));

    let (code, _, err) = mediator(&[
        "test-event-pattern",
        "--event-pattern",
        "@/no/such/file",
        "--event",
        EVENT,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--event-pattern: cannot read /no/such/file"),
        "{err}"
    );
}

#[test]
fn invalid_pattern_exits_2_with_aws_reason() {
    let (code, out, err) = mediator(&[
        "test-event-pattern",
        "--event-pattern",
        r#"{"source":[]}"#,
        "--event",
        EVENT,
    ]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "InvalidEventPatternException: Event pattern is not valid. Reason: Empty arrays are not allowed\n"
    );
}

#[test]
fn event_without_envelope_is_rejected_like_aws() {
    let (code, _, err) = mediator(&[
        "test-event-pattern",
        "--event-pattern",
        r#"{"source":["a"]}"#,
        "--event",
        r#"{"source":"a","detail":{}}"#,
    ]);
    assert_eq!(code, 2);
    assert_eq!(err, "ValidationException: Parameter Event is not valid.\n");
}

#[test]
fn help_documents_every_serve_option() {
    let (code, out, _) = mediator(&["--help"]);
    assert_eq!(code, 0);
    for opt in [
        "--listen",
        "--data-dir",
        "--site-root",
        "--parts",
        "--request-timeout",
        "--log-format",
        "--config",
        "MEDIATOR_LISTEN",
        "MEDIATOR_DATA_DIR",
        "--sweep-interval",
        "MEDIATOR_SWEEP_INTERVAL",
        "--max-attempts",
        "MEDIATOR_MAX_ATTEMPTS",
        "--demo-rate",
        "MEDIATOR_DEMO_RATE",
        "[parts.<name>]",
        "test-event-pattern",
    ] {
        assert!(out.contains(opt), "--help lacks {opt}");
    }
}

#[test]
fn bad_configuration_exits_2_naming_the_field() {
    let (code, _, err) = mediator(&["serve", "--parts", "voucher,Bad"]);
    assert_eq!(code, 2);
    assert!(err.contains("parts: invalid part name \"Bad\""), "{err}");
}

/// `mediator provision --backend aws` against moto: the dry run plans every
/// resource and writes nothing, the first run creates, the second run
/// reports everything unchanged.
#[test]
fn provision_aws_plans_creates_then_is_a_no_op_on_moto() {
    let moto = aws_backend::moto::Moto::start();
    let run = |dry: bool| {
        let mut args = vec![
            "provision",
            "--backend",
            "aws",
            "--endpoint-url",
            &moto.endpoint,
        ];
        if dry {
            args.push("--dry-run");
        }
        let (code, out, err) = mediator(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let plan = run(true);
    assert!(
        plan.starts_with("create    event-bus loyalty-bus\n"),
        "{plan}"
    );
    assert!(plan.contains("create    archive   LoyaltyPointsArchive (retention 10 days)\n"));
    assert!(plan.contains("create    rule      VoucherRequests (→ queue voucher-requests)\n"));
    assert!(
        plan.contains("create    table     mediator-changes (index unpub, index part_time)\n"),
        "{plan}"
    );
    assert!(
        plan.ends_with("dry run: 26 change(s) planned, nothing written\n"),
        "{plan}"
    );
    assert_eq!(run(true), plan, "the dry run wrote nothing");
    assert!(run(false).ends_with("26 change(s) applied\n"));
    let again = run(false);
    assert_eq!(
        again
            .lines()
            .filter(|l| l.starts_with("unchanged "))
            .count(),
        26,
        "{again}"
    );
    assert!(again.ends_with("0 change(s) applied\n"), "{again}");
}

/// The AWS configuration users already have applies: each service's
/// `AWS_ENDPOINT_URL_<SERVICE>` over `AWS_ENDPOINT_URL`, `--endpoint-url`
/// over both; invalid retry variables are refused naming them.
#[test]
fn provision_follows_aws_endpoint_variables_and_the_flag_overrides_them() {
    let moto = aws_backend::moto::Moto::start();
    let dead = "http://127.0.0.1:9";
    fn run(flag: Option<&str>, vars: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mediator"));
        cmd.args(["provision", "--backend", "aws", "--dry-run"]);
        if let Some(url) = flag {
            cmd.args(["--endpoint-url", url]);
        }
        let out = cmd
            .env("AWS_MAX_ATTEMPTS", "1")
            .envs(vars.iter().copied())
            .output()
            .expect("run mediator");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    let per_service = [
        ("AWS_ENDPOINT_URL", dead),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint.as_str()),
    ];
    let (code, out, err) = run(None, &per_service);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("create    table     mediator-audit"), "{out}");
    let (code, out, err) = run(
        Some(moto.endpoint.as_str()),
        &[
            ("AWS_ENDPOINT_URL", dead),
            ("AWS_ENDPOINT_URL_DYNAMODB", dead),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", dead),
            ("AWS_ENDPOINT_URL_SQS", dead),
        ],
    );
    assert_eq!(code, 0, "the flag overrides every variable: {err}");
    assert!(out.ends_with("nothing written\n"), "{out}");
    let (code, _, err) = run(
        Some(moto.endpoint.as_str()),
        &[("AWS_MAX_ATTEMPTS", "many")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: AWS_MAX_ATTEMPTS: "), "{err}");
}

#[test]
fn provision_requires_a_backend_and_names_bad_parts() {
    let (code, _, err) = mediator(&["provision", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(err.contains("--backend <BACKEND>"), "{err}");
    let (code, _, err) = mediator(&[
        "provision",
        "--backend",
        "aws",
        "--dry-run",
        "--parts",
        "voucher,Bad",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: parts: invalid part name \"Bad\""),
        "{err}"
    );
}

/// `docs/configuration.md` is the reference operators read: every option of
/// `mediator serve --help` has its row there (flag and environment
/// variable) and its key in the config file's key list, and that list names
/// no key the binary does not have.
#[test]
fn the_configuration_doc_names_every_serve_option() {
    let (code, help, _) = mediator(&["serve", "--help"]);
    assert_eq!(code, 0);
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .expect("read docs/configuration.md");

    let mut flags = Vec::new();
    let mut envs = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if name != "help" && name != "version" {
                flags.push(name);
            }
        }
        if let Some(i) = t.find("[env: ") {
            let env: String = t[i + 6..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            envs.push(env);
        }
    }
    assert!(
        flags.len() > 30,
        "too few options read from --help: {flags:?}"
    );

    let keys_start = doc
        .find("TOML file whose keys are")
        .expect("the --config row with the key list");
    let keys_end = keys_start + doc[keys_start..].find("[parts.").expect("end of key list");
    let key_list = &doc[keys_start..keys_end];
    let listed: Vec<&str> = key_list
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| {
            k.chars().any(|c| c.is_ascii_lowercase())
                && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .collect();

    let mut missing = Vec::new();
    for flag in &flags {
        if !doc.contains(&format!("`--{flag} ")) && !doc.contains(&format!("`--{flag}`")) {
            missing.push(format!("no row for --{flag}"));
        }
        let key = flag.replace('-', "_");
        if flag != "config" && !listed.contains(&key.as_str()) {
            missing.push(format!("no config-file key {key}"));
        }
    }
    for env in &envs {
        if !doc.contains(&format!("`{env}`")) {
            missing.push(format!("no environment variable {env}"));
        }
    }
    for key in &listed {
        if !flags.iter().any(|f| f.replace('-', "_") == *key) {
            missing.push(format!("key {key} is not an option of serve"));
        }
    }
    assert!(missing.is_empty(), "docs/configuration.md: {missing:#?}");
}

/// The example configuration shipped in `packaging/` (and `make dist`) is a
/// configuration the binary accepts, and says what its comments claim.
#[test]
fn the_packaged_example_configuration_is_accepted() {
    use clap::Parser;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/mediator.toml");
    let data = tempfile::tempdir().unwrap();
    let cli = server::config::Cli::try_parse_from([
        "mediator",
        "serve",
        "--config",
        path,
        "--data-dir",
        data.path().to_str().unwrap(),
    ])
    .unwrap();
    let Some(server::config::Command::Serve(args)) = cli.command else {
        panic!("serve expected");
    };
    let settings = server::config::Settings::resolve(*args).unwrap();
    let names: Vec<&str> = settings.parts.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, ["voucher", "member", "points"]);
    let points = &settings.part_settings[2];
    assert_eq!(points.submit_timeout, std::time::Duration::from_secs(12));
    assert_eq!(points.resubmit_rate, 20.0);
    assert_eq!(
        settings.part_settings[0].submit_timeout,
        std::time::Duration::from_secs(10)
    );
}

/// Leptos's settings are read as cargo-leptos documents them: with no
/// `--listen` (nor `MEDIATOR_LISTEN` or a config key), `LEPTOS_SITE_ADDR`
/// is the console's address; `--listen` wins over it; a bad `LEPTOS_ENV`
/// stops the start naming it.
#[tokio::test]
async fn leptos_environment_sets_the_address_unless_listen_does() {
    use crate::common::process::{free_port, ServerProcess};
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_mediator"));
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();

    let port = free_port();
    let mut cmd = ServerProcess::command(bin, dir.path(), &dir.path().join("a"));
    cmd.arg("--site-root")
        .arg(&site)
        .env_remove("MEDIATOR_LISTEN")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_ENV", "PROD");
    let app = ServerProcess::spawn(cmd, port).await;
    drop(app);

    let (port, ignored) = (free_port(), free_port());
    let mut cmd = ServerProcess::command(bin, dir.path(), &dir.path().join("b"));
    cmd.arg("--site-root")
        .arg(&site)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{ignored}"));
    let app = ServerProcess::spawn(cmd, port).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ignored)).is_err(),
        "--listen wins over LEPTOS_SITE_ADDR"
    );
    drop(app);

    let out = Command::new(bin)
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("c"))
        .env("LEPTOS_ENV", "staging")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("LEPTOS_") && err.contains("staging"), "{err}");
}
