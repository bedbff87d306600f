//! The operator conveniences of the `mediator` binary, run as a user would:
//! JSON listings, roles as a closed set, shell completions, and an online
//! backup taken while a server runs, restored once it is stopped.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::process::ServerProcess;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mediator"))
}

/// Runs the binary with `args` (and `stdin` on standard input).
fn mediator(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("MEDIATOR_DATA_DIR")
        .env_remove("MEDIATOR_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mediator");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn add_user(data: &Path, name: &str, role: &str) {
    let (code, _, err) = mediator(
        &[
            "user",
            "add",
            name,
            "--role",
            role,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        "a long passphrase\n",
    );
    assert_eq!(code, 0, "{err}");
}

fn user_names(data: &Path) -> Vec<String> {
    let (code, out, err) = mediator(
        &[
            "user",
            "list",
            "--json",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let users: Vec<Value> = serde_json::from_str(&out).unwrap();
    users
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn user_and_token_lists_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (code, out, _) = mediator(&["user", "list", "--json", "--data-dir", data], "");
    assert_eq!((code, out.trim()), (0, "[]"), "no users: an empty array");
    add_user(dir.path(), "ann", "operator");
    let (code, secret, err) = mediator(
        &[
            "token",
            "add",
            "--user",
            "ann",
            "--role",
            "viewer",
            "--label",
            "ci",
            "--data-dir",
            data,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(!secret.trim().is_empty());

    let (_, out, _) = mediator(&["user", "list", "--json", "--data-dir", data], "");
    let users: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users[0]["name"], "ann");
    assert_eq!(users[0]["role"], "operator");
    assert!(users[0]["created_at"].as_str().unwrap().contains('T'));

    let (_, out, _) = mediator(&["token", "list", "--json", "--data-dir", data], "");
    let tokens: Value = serde_json::from_str(&out).unwrap();
    let t = &tokens[0];
    assert_eq!(
        (t["user"].as_str(), t["role"].as_str()),
        (Some("ann"), Some("viewer"))
    );
    assert_eq!(t["label"], "ci");
    assert!(t["id"].is_i64() && t["last_used_at"].is_null(), "{t}");
    assert!(!out.contains(secret.trim()), "never the secret");
}

#[test]
fn roles_are_a_closed_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (code, _, err) = mediator(
        &[
            "user",
            "add",
            "eve",
            "--role",
            "superuser",
            "--data-dir",
            data,
        ],
        "a long passphrase\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("invalid value 'superuser'") && err.contains("viewer, operator, admin"),
        "{err}"
    );
    let (_, help, _) = mediator(&["user", "add", "--help"], "");
    assert!(help.contains("Sees everything, changes nothing"), "{help}");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _mediator"),
        ("zsh", "#compdef mediator"),
        ("fish", "complete -c mediator"),
    ] {
        let (code, out, err) = mediator(&["completions", shell], "");
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {marker}");
        for word in ["serve", "backup", "restore", "data-dir"] {
            assert!(out.contains(word), "{shell} completes {word}");
        }
    }
    let (code, _, err) = mediator(&["completions", "tcsh"], "");
    assert_eq!(code, 2, "{err}");
}

/// A backup taken while the server serves holds what was there; restore is
/// refused while the server runs, and once it stopped, brings the data
/// directory back to the backup (the user added after it is gone).
#[tokio::test]
async fn backup_while_serving_then_restore_after_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    add_user(&data, "ann", "admin");
    let server = ServerProcess::start(
        bin(),
        dir.path(),
        &data,
        &["--site-root", site.to_str().unwrap()],
        &[],
    )
    .await;
    let backup = dir.path().join("backups/mediator.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let d = data.to_str().unwrap();
    let b = backup.to_str().unwrap();
    let (code, out, err) = mediator(&["backup", b, "--data-dir", d], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("integrity ok"), "{out}");
    let (code, _, err) = mediator(&["backup", b, "--data-dir", d], "");
    assert_eq!(code, 2, "an existing file is kept: {err}");
    assert!(err.contains("--force"), "{err}");

    add_user(&data, "bob", "viewer");
    let (code, _, err) = mediator(&["restore", b, "--data-dir", d], "");
    assert_eq!(code, 2, "refused while serving: {err}");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(user_names(&data), ["ann", "bob"]);

    drop(server);
    let (code, out, err) = mediator(&["restore", b, "--data-dir", d], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restored"), "{out}");
    assert_eq!(user_names(&data), ["ann"]);

    // The backup also seeds a new machine's empty data directory.
    let fresh = dir.path().join("fresh");
    let (code, _, err) = mediator(&["restore", b, "--data-dir", fresh.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(user_names(&fresh), ["ann"]);

    let (code, _, err) = mediator(
        &[
            "restore",
            dir.path().join("nope.db").to_str().unwrap(),
            "--data-dir",
            d,
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("nope.db: no such database"), "{err}");
}

/// `provision` reports as it goes: each resource's line on standard output,
/// each new table's wait until ACTIVE on standard error.
#[test]
fn provision_reports_tables_becoming_active() {
    let moto = aws_backend::moto::Moto::start();
    let (code, out, err) = mediator(
        &[
            "provision",
            "--backend",
            "aws",
            "--endpoint-url",
            &moto.endpoint,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    for table in ["mediator-changes", "mediator-vouchers"] {
        assert!(
            err.contains(&format!("table {table}: ACTIVE after ")),
            "{table} in\n{err}"
        );
        assert!(
            out.contains(&format!("create    table     {table}")),
            "{out}"
        );
    }
    let (_, _, again) = mediator(
        &[
            "provision",
            "--backend",
            "aws",
            "--endpoint-url",
            &moto.endpoint,
        ],
        "",
    );
    assert!(!again.contains("ACTIVE"), "nothing to wait for: {again}");
}
