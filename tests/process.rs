//! The `igloo` binary as an operator runs it: configuration errors, `.env`, `--help`,
//! SIGTERM, and `igloo healthcheck`.

mod common;

use common::daemon::Daemon;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_igloo");

/// A command with a clean environment: the test machine's own variables must not leak in.
fn igloo(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

fn run_err(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_values_stop_startup_with_one_line_naming_the_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("HOST_PORT", "abc", "TCP port"),
        ("HOST_PORT", "70000", "TCP port"),
        ("HEADLESS", "maybe", "true or false"),
        ("FROSTR_SIGN_TIMEOUT", "10", "milliseconds"),
        ("NODE_BACKOFF_MULTIPLIER", "0.5", "factor"),
        ("SESSION_SECRET", "short", "64 hexadecimal"),
        ("IGLOO_TLS", "maybe", "self-signed"),
        ("RELAYS", "http://example.com", "ws://"),
    ];
    for (var, value, hint) in cases {
        let (code, err) = run_err(igloo(tmp.path()).env(var, value).env("DB_PATH", tmp.path()));
        assert_eq!(code, 2, "{var}={value}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{var}={value} gave several lines: {err}");
        assert!(lines[0].contains(var), "{var} not named: {err}");
        assert!(lines[0].contains(hint), "{var}: no accepted form: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn auth_off_on_a_public_bind_needs_the_insecure_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = run_err(
        igloo(tmp.path())
            .env("AUTH_ENABLED", "false")
            .env("HOST_NAME", "0.0.0.0")
            .env("DB_PATH", tmp.path()),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("AUTH_ENABLED") && err.contains("IGLOO_INSECURE_OK"),
        "{err}"
    );
}

#[test]
fn help_documents_every_setting_and_its_default() {
    let tmp = tempfile::tempdir().unwrap();
    let out = igloo(tmp.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "HOST_NAME",
        "HOST_PORT",
        "HEADLESS",
        "DB_PATH",
        "GROUP_CRED",
        "SHARE_CRED",
        "RELAYS",
        "GROUP_NAME",
        "AUTH_ENABLED",
        "API_KEY",
        "BASIC_AUTH_USER",
        "BASIC_AUTH_PASS",
        "ADMIN_SECRET",
        "SESSION_SECRET",
        "SESSION_TIMEOUT",
        "ALLOWED_ORIGINS",
        "TRUST_PROXY",
        "RATE_LIMIT_ENABLED",
        "RATE_LIMIT_WINDOW",
        "RATE_LIMIT_MAX",
        "NODE_RESTART_DELAY",
        "NODE_MAX_RETRIES",
        "NODE_BACKOFF_MULTIPLIER",
        "NODE_MAX_RETRY_DELAY",
        "NODE_HEALTH_MAX_RESTARTS",
        "NODE_HEALTH_RESTART_DELAY",
        "NODE_HEALTH_BACKOFF_MULTIPLIER",
        "NODE_HEALTH_CHECK_INTERVAL",
        "NODE_HEALTH_KEEPALIVE_AFTER",
        "NODE_HEALTH_UNHEALTHY_AFTER",
        "NODE_HEALTH_RESTART_AFTER",
        "FROSTR_SIGN_TIMEOUT",
        "NIP46_APPROVAL_TIMEOUT",
        "NIP46_BUNKER_SECRET_TTL",
        "NODE_ENV",
        "IGLOO_TLS",
        "IGLOO_WORKER_THREADS",
    ] {
        assert!(help.contains(&format!("env: {var}")), "--help lacks {var}");
    }
    assert!(help.contains("[default: 8002]"));
    assert!(help.contains("[default: 127.0.0.1]"));
}

#[test]
fn dotenv_in_the_working_directory_is_read_and_the_environment_wins() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(".env"), "HOST_PORT=not-a-port\n").unwrap();
    let (code, err) = run_err(igloo(tmp.path()).arg("healthcheck"));
    assert_eq!(code, 2, "the .env value is used: {err}");
    assert!(err.contains("HOST_PORT"));
    // The process environment takes precedence over .env, and a flag over both.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let (code, err) = run_err(
        igloo(tmp.path())
            .env("HOST_PORT", port.to_string())
            .arg("healthcheck"),
    );
    assert_eq!(code, 1, "valid config, nothing listening: {err}");
    let (code, _) = run_err(igloo(tmp.path()).env("HOST_PORT", "bad").args([
        "--host-port",
        &port.to_string(),
        "healthcheck",
    ]));
    assert_eq!(code, 1, "the flag wins over a bad environment value");
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn sigterm_shuts_down_cleanly_with_exit_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::spawn(tmp.path(), &[]);
    // The healthcheck subcommand sees it up …
    let hc = igloo(tmp.path())
        .args(["--host-port", &d.port.to_string(), "healthcheck"])
        .output()
        .unwrap();
    assert_eq!(
        hc.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&hc.stderr)
    );
    sigterm(&d.child);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // … and down afterwards.
    let hc = igloo(tmp.path())
        .args(["--host-port", &d.port.to_string(), "healthcheck"])
        .output()
        .unwrap();
    assert_eq!(hc.status.code(), Some(1));
}

#[test]
fn healthcheck_speaks_tls_to_a_self_signed_server() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::spawn(tmp.path(), &[("IGLOO_TLS", "self-signed")]);
    let hc = igloo(tmp.path())
        .env("IGLOO_TLS", "self-signed")
        .args(["--host-port", &d.port.to_string(), "healthcheck"])
        .output()
        .unwrap();
    assert_eq!(
        hc.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&hc.stderr)
    );
}
