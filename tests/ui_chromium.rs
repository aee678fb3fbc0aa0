//! The web UI in real headless Chromium (Debian's package, installed by scripts/test):
//! the page loads its module script, calls /api/status and renders the answer.

mod common;

use common::TestServer;

fn chromium() -> String {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if std::path::Path::new(c).exists() {
            return c.to_string();
        }
    }
    panic!(
        "headless Chromium is not installed; run scripts/test, which installs Debian's chromium"
    );
}

/// The DOM after scripts ran, as Chromium serialises it.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_page_renders_live_values() {
    let srv = TestServer::start(&["--relays", "ws://127.0.0.1:9/,wss://relay.example.org"]);
    let dom = dump_dom(&srv.url("/"));
    assert!(
        dom.contains(r#"id="node-state" data-state="off">inactive<"#),
        "{dom}"
    );
    assert!(
        dom.contains("ws://127.0.0.1:9, wss://relay.example.org"),
        "{dom}"
    );
    assert!(dom.contains(r#"id="credentials">none<"#), "{dom}");
    assert!(
        dom.contains(r#"<p id="error" role="alert" hidden="">"#),
        "no error shown: {dom}"
    );
}

#[test]
fn spa_routes_load_the_same_app() {
    let srv = TestServer::start(&[]);
    let dom = dump_dom(&srv.url("/signer"));
    let version = format!(r#"id="version">{} (database)<"#, env!("CARGO_PKG_VERSION"));
    assert!(dom.contains(&version), "{dom}");
}
