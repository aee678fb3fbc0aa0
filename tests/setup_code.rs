//! The first run needs no restart: without `ADMIN_SECRET` the daemon logs a one-time setup
//! code, `igloo setup-code` draws a fresh one (also while the daemon runs), the code creates the
//! first admin exactly once, and the admin secret is throttled like a password.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestServer, call};
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_igloo");
const PASS: &str = "Gl4cier!Pw";

/// `igloo setup-code` for the data directory `dir`, in a clean environment.
fn setup_code_cli(dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DB_PATH", dir)
        .arg("setup-code")
        .output()
        .expect("run igloo setup-code");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn validate(srv: &TestServer, code: &str) -> u16 {
    let bearer = format!("Bearer {code}");
    call(
        srv,
        Method::POST,
        "/api/onboarding/validate-admin",
        Some(("authorization", &bearer)),
        None,
    )
    .await
    .0
}

async fn setup(srv: &TestServer, code: &str, user: &str) -> (u16, serde_json::Value) {
    let bearer = format!("Bearer {code}");
    let (status, body, _) = call(
        srv,
        Method::POST,
        "/api/onboarding/setup",
        Some(("authorization", &bearer)),
        Some(json!({"username": user, "password": PASS})),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn a_setup_code_creates_the_first_admin_once_while_the_daemon_runs() {
    let srv = TestServer::start_auth(&["--rate-limit-enabled", "false"]);
    let (_, s, _) = call(&srv, Method::GET, "/api/onboarding/status", None, None).await;
    assert_eq!(s["initialized"], false);
    assert_eq!(s["hasAdminSecret"], false);
    assert_eq!(s["setupCode"], true, "{s}");
    // Only a hash is kept, beside the store, private.
    let file = srv.data_dir.join("igloo.redb.setup-code");
    let stored = std::fs::read_to_string(&file).expect("setup code file");
    assert_eq!(stored.trim().len(), 64);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The daemon holds the store; the command still works and prints a fresh code.
    let (rc, code, err) = setup_code_cli(&srv.data_dir);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(code.len(), 23, "{code}");
    assert!(err.contains("/?setup="), "{err}");
    assert!(!stored.contains(&code));

    assert_eq!(validate(&srv, "wrong-code-00000").await, 401);
    assert_eq!(validate(&srv, &code).await, 200);
    // Typed by hand: case and dashes do not matter.
    assert_eq!(
        validate(&srv, &code.to_uppercase().replace('-', "")).await,
        200
    );
    let (status, body) = setup(&srv, "wrong-code-00000", "admin").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = setup(&srv, &code, "admin").await;
    assert_eq!(status, 200, "{body}");
    common::login_as(&srv, "admin", PASS).await;

    // Spent with the first admin.
    assert!(!file.exists(), "the code file is removed");
    let (_, s, _) = call(&srv, Method::GET, "/api/onboarding/status", None, None).await;
    assert_eq!(
        (s["initialized"].clone(), s["setupCode"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(validate(&srv, &code).await, 401);
    let (status, _) = setup(&srv, &code, "second").await;
    assert_eq!(status, 401);

    // With the daemon stopped, the command sees the admin and refuses.
    let dir = srv.data_dir.clone();
    let tmp_keep = tempfile::tempdir().unwrap();
    let kept = tmp_keep.path().join("data");
    copy_dir(&dir, &kept);
    srv.stop().unwrap();
    let (rc, out, err) = setup_code_cli(&kept);
    assert_eq!(rc, 1, "{out} {err}");
    assert!(out.is_empty());
    assert!(err.contains("admin already exists"), "{err}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary on port 0 without ADMIN_SECRET and reads the setup URL from its log.
fn spawn_first_run(dir: &std::path::Path) -> (Daemon, String) {
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST_PORT", "0")
        .env("DB_PATH", dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("http://127.0.0.1:") {
                let url: String = line[i..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                if url.contains("?setup=") {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the daemon logs the setup URL");
    (Daemon(child), url)
}

#[tokio::test]
async fn the_logged_url_opens_setup_and_a_new_code_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (_d, url) = spawn_first_run(&dir);
    let (base, logged) = url.split_once("/?setup=").expect("url with a code");
    let logged = logged.trim_end_matches([')', ';', ',']).to_string();
    let http = common::client();
    // The URL itself serves the setup page.
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let post = |code: String| {
        let http = http.clone();
        let base = base.to_string();
        async move {
            http.post(format!("{base}/api/onboarding/validate-admin"))
                .bearer_auth(code)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(logged.clone()).await, 200, "logged code {logged}");
    let (rc, fresh, err) = setup_code_cli(&dir);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(post(logged.clone()).await, 401, "the old code is replaced");
    assert_eq!(post(fresh.clone()).await, 200);
    let res = http
        .post(format!("{base}/api/onboarding/setup"))
        .bearer_auth(&fresh)
        .json(&json!({"username": "owner", "password": PASS}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let s: serde_json::Value = http
        .get(format!("{base}/api/onboarding/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["initialized"], true);
    assert_eq!(s["setupCode"], false);
}

#[tokio::test]
async fn with_an_admin_secret_no_code_is_drawn() {
    let srv = TestServer::start_auth(&["--admin-secret", "onboarding-secret-0123"]);
    let (_, s, _) = call(&srv, Method::GET, "/api/onboarding/status", None, None).await;
    assert_eq!(s["setupCode"], false, "{s}");
    assert!(!srv.data_dir.join("igloo.redb.setup-code").exists());
}

#[tokio::test]
async fn wrong_admin_secrets_are_throttled_across_addresses() {
    // Behind a trusted proxy each try comes from another address, so no per-address bucket
    // fills up; the throttle shared by every onboarding attempt still makes everyone wait.
    let srv = TestServer::start_auth(&[
        "--admin-secret",
        "onboarding-secret-0123",
        "--trust-proxy",
        "true",
    ]);
    let try_from = |ip: String, secret: &'static str| {
        let url = srv.url("/api/onboarding/validate-admin");
        async move {
            common::client()
                .post(url)
                .header("x-forwarded-for", ip)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for i in 0..10 {
        assert_eq!(try_from(format!("192.0.2.{i}"), "wrong-secret").await, 401);
    }
    // A fresh address with the right secret now waits too (1 s after the tenth failure,
    // doubling with each further one).
    assert_eq!(
        try_from("198.51.100.7".into(), "onboarding-secret-0123").await,
        429
    );
    // The throttle answers before any comparison; the right secret still works later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        try_from("198.51.100.8".into(), "onboarding-secret-0123").await,
        200
    );
}

#[test]
fn the_command_says_why_it_cannot_help() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DB_PATH", tmp.path())
        .env("HEADLESS", "true")
        .arg("setup-code")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("headless"));
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("setup-code"));
}
