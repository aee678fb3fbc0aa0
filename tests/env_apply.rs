//! `POST /api/env` settings take effect: each is set through the API and the behaviour it
//! controls is observed changing, without a restart where the daemon can apply it, and at the
//! next start for the ones the answer lists as needing a restart.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, client};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::types::x_only;
use reqwest::Method;
use serde_json::{Value, json};

const APP: &str = "https://app.example";

/// POST `body` to `path` (no authentication: these servers run with it off).
async fn env(srv: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let (code, v, _) = common::call(srv, Method::POST, path, None, Some(body)).await;
    (code, v)
}

async fn get_env(srv: &TestServer) -> Value {
    common::get_json(&srv.url("/api/env")).await
}

async fn preflight(srv: &TestServer, origin: &str) -> reqwest::Response {
    client()
        .request(Method::OPTIONS, srv.url("/api/status"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight")
}

/// A WebSocket upgrade of `/api/events` from `origin`; returns the HTTP status.
async fn ws_status(srv: &TestServer, origin: &str) -> u16 {
    client()
        .get(srv.url("/api/events"))
        .header("origin", origin)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("upgrade")
        .status()
        .as_u16()
}

#[tokio::test]
async fn allowed_origins_apply_to_cors_and_websockets_at_once_and_revert_on_delete() {
    let srv = TestServer::start(&["--relay-enabled", "false"]);
    assert_eq!(preflight(&srv, APP).await.status(), 403);
    assert_eq!(ws_status(&srv, APP).await, 403);

    let (code, b) = env(&srv, "/api/env", json!({"ALLOWED_ORIGINS": [APP]})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["appliedKeys"], json!(["ALLOWED_ORIGINS"]));
    assert_eq!(b["restartRequiredKeys"], json!([]));
    let r = preflight(&srv, APP).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
    let r = client()
        .get(srv.url("/api/status"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
    assert_eq!(ws_status(&srv, APP).await, 101, "the event socket opens");
    assert_eq!(
        preflight(&srv, "https://evil.example").await.status(),
        403,
        "only the listed origin"
    );
    assert_eq!(get_env(&srv).await["ALLOWED_ORIGINS"], APP);

    let (code, b) = env(
        &srv,
        "/api/env/delete",
        json!({"keys": ["ALLOWED_ORIGINS"]}),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["deletedKeys"], json!(["ALLOWED_ORIGINS"]));
    assert_eq!(
        preflight(&srv, APP).await.status(),
        403,
        "start-up value again"
    );
    assert_eq!(ws_status(&srv, APP).await, 403);
}

async fn status_code(srv: &TestServer) -> reqwest::Response {
    client().get(srv.url("/api/status")).send().await.unwrap()
}

#[tokio::test]
async fn rate_limit_max_window_and_switch_apply_at_once() {
    let srv = TestServer::start(&["--relay-enabled", "false"]);
    for _ in 0..5 {
        assert_eq!(
            status_code(&srv).await.status(),
            200,
            "default limit is high"
        );
    }
    let (code, b) = env(&srv, "/api/env", json!({"RATE_LIMIT_MAX": 8})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["appliedKeys"], json!(["RATE_LIMIT_MAX"]));
    // 5 of 8 are spent in this window already.
    for _ in 0..3 {
        assert_eq!(status_code(&srv).await.status(), 200);
    }
    let r = status_code(&srv).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "the 900 s window: {retry}");

    // A 1-second window: the wait is at most a second and then requests pass again.
    let (code, b) = env(&srv, "/api/env", json!({"RATE_LIMIT_WINDOW": "1"})).await;
    assert_eq!(code, 200, "{b}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(status_code(&srv).await.status(), 200);

    let (code, _) = env(&srv, "/api/env", json!({"RATE_LIMIT_ENABLED": false})).await;
    assert_eq!(code, 200);
    for _ in 0..20 {
        assert_eq!(status_code(&srv).await.status(), 200, "limits off");
    }
    let auth: Value = common::get_json(&srv.url("/api/auth/status")).await;
    assert_eq!(auth["rateLimiting"], false);
}

#[tokio::test]
async fn bad_values_are_refused_with_the_flag_rules_and_change_nothing() {
    let srv = TestServer::start(&["--relay-enabled", "false"]);
    let before = get_env(&srv).await;
    let (code, b) = env(
        &srv,
        "/api/env",
        json!({"FROSTR_SIGN_TIMEOUT": 500, "RATE_LIMIT_MAX": 3, "SESSION_TIMEOUT": "soon"}),
    )
    .await;
    assert_eq!(code, 400, "{b}");
    assert_eq!(b["code"], "INVALID_SETTING");
    let msg = b["error"].as_str().unwrap();
    assert!(
        msg.contains("FROSTR_SIGN_TIMEOUT") && msg.contains("1000 to 120000"),
        "{msg}"
    );
    assert!(msg.contains("SESSION_TIMEOUT"), "{msg}");
    assert_eq!(get_env(&srv).await, before, "nothing stored");
    for _ in 0..5 {
        assert_eq!(
            status_code(&srv).await.status(),
            200,
            "RATE_LIMIT_MAX not applied"
        );
    }
    let (code, _) = env(
        &srv,
        "/api/env",
        json!({"PEER_POLICIES": "[{\"pubkey\": 1}]"}),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = env(&srv, "/api/env", json!({"RATE_LIMIT_ENABLED": "perhaps"})).await;
    assert_eq!(code, 400);
    // An empty value (a cleared form field) removes a saved one.
    let (code, _) = env(&srv, "/api/env", json!({"RATE_LIMIT_MAX": 2})).await;
    assert_eq!(code, 200);
    assert_eq!(status_code(&srv).await.status(), 429, "2 per window, spent");
    let (code, b) = env(&srv, "/api/env", json!({"RATE_LIMIT_MAX": ""})).await;
    assert_eq!(code, 200, "{b}");
    for _ in 0..5 {
        assert_eq!(
            status_code(&srv).await.status(),
            200,
            "start-up limit again"
        );
    }
}

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const PASS: &str = "Gl4cier!Pw";

#[tokio::test]
async fn session_timeout_applies_to_new_logins_at_once() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET, "--relay-enabled", "false"]);
    common::onboard_admin(&srv, ADMIN_SECRET, PASS).await;
    let login = || async {
        let r = client()
            .post(srv.url("/api/auth/login"))
            .json(&json!({"username": "admin", "password": PASS}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        let b: Value = r.json().await.unwrap();
        (b, cookie)
    };
    let (b, cookie) = login().await;
    assert_eq!(b["expiresIn"], 3_600_000);
    assert!(cookie.contains("Max-Age=3600"), "{cookie}");
    let sid = b["sessionId"].as_str().unwrap().to_string();
    let r = client()
        .post(srv.url("/api/env"))
        .header("x-session-id", &sid)
        .json(&json!({"SESSION_TIMEOUT": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["appliedKeys"], json!(["SESSION_TIMEOUT"]));
    let (b, cookie) = login().await;
    assert_eq!(b["expiresIn"], 120_000);
    assert!(cookie.contains("Max-Age=120"), "{cookie}");
    let st: Value = common::get_json(&srv.url("/api/auth/status")).await;
    assert_eq!(st["sessionTimeout"], 120);
}

fn headless(ks: &Keyset, relay: &str, dir: &std::path::Path, timeout_ms: &str) -> TestServer {
    TestServer::start_in(
        dir.to_path_buf(),
        &[
            "--headless",
            "true",
            "--group-cred",
            &encode_group(&ks.group),
            "--share-cred",
            &encode_share(&ks.shares[0]),
            "--relays",
            relay,
            "--relay-enabled",
            "false",
            "--frostr-sign-timeout",
            timeout_ms,
        ],
    )
}

async fn wait_online(srv: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = common::get_json(&srv.url("/api/status")).await;
        if s["nodeActive"] == json!(true) && s["health"]["isConnected"] == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "node never came online: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Time `POST /api/sign` takes to fail while every peer is offline (504).
async fn offline_sign_time(srv: &TestServer) -> Duration {
    let t = Instant::now();
    let (code, b) = env(srv, "/api/sign", json!({"message": hex::encode([7u8; 32])})).await;
    assert_eq!(code, 504, "{b}");
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_timeout_applies_at_once_and_restart_keys_at_the_next_start() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Started with 30 s: a sign to offline peers would take 30 s without the change.
    let srv = headless(&ks, &relay_url, &dir, "30000");
    wait_online(&srv).await;
    let (code, b) = env(
        &srv,
        "/api/env",
        json!({"FROSTR_SIGN_TIMEOUT": 1000, "NODE_MAX_RETRIES": 7, "INITIAL_CONNECTIVITY_DELAY": 0}),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["appliedKeys"], json!(["FROSTR_SIGN_TIMEOUT"]));
    assert_eq!(b["restartRequiredKeys"], json!(["NODE_MAX_RETRIES"]));
    assert_eq!(b["unusedKeys"], json!(["INITIAL_CONNECTIVITY_DELAY"]));
    assert!(
        b["message"].as_str().unwrap().contains("NODE_MAX_RETRIES"),
        "{b}"
    );
    assert_eq!(
        b["nodeActive"], true,
        "the node restarted with the new timeout"
    );
    assert_eq!(
        get_env(&srv).await["restartRequiredKeys"],
        json!(["NODE_MAX_RETRIES"]),
        "saved, waiting for a restart"
    );
    wait_online(&srv).await;
    let took = offline_sign_time(&srv).await;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "1 s timeout: {took:?}"
    );
    srv.stop().unwrap();

    // The stored values are the configuration of the next start (over the 30 s flag).
    let srv = headless(&ks, &relay_url, &dir, "30000");
    let e = get_env(&srv).await;
    assert_eq!(e["FROSTR_SIGN_TIMEOUT"], "1000");
    assert_eq!(e["NODE_MAX_RETRIES"], "7");
    assert_eq!(
        e["restartRequiredKeys"],
        json!([]),
        "in force since this start"
    );
    wait_online(&srv).await;
    let took = offline_sign_time(&srv).await;
    assert!(
        took < Duration::from_secs(10),
        "stored timeout after restart: {took:?}"
    );

    // Removing it brings back the flag's value (checked through GET, not a 30 s wait).
    let (code, _) = env(
        &srv,
        "/api/env/delete",
        json!({"keys": ["FROSTR_SIGN_TIMEOUT"]}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(get_env(&srv).await["FROSTR_SIGN_TIMEOUT"], "30000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_policies_apply_to_the_running_node() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().unwrap();
    let srv = headless(&ks, &relay_url, &tmp.path().join("data"), "5000");
    wait_online(&srv).await;
    let peer = hex::encode(x_only(&ks.shares[1].public_key()));
    let policy_of = |p: Value| {
        p["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["normalizedPubkey"] == json!(peer))
            .cloned()
            .unwrap()
    };
    let p = policy_of(common::get_json(&srv.url("/api/peers/policies")).await);
    assert_eq!(p["allowSend"], true);
    let seeds = json!([{"pubkey": peer, "allowSend": false, "label": "laptop"}]).to_string();
    let (code, b) = env(&srv, "/api/env", json!({"PEER_POLICIES": seeds})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["appliedKeys"], json!(["PEER_POLICIES"]));
    wait_online(&srv).await;
    let p = policy_of(common::get_json(&srv.url("/api/peers/policies")).await);
    assert_eq!(p["allowSend"], false, "{p}");
    assert_eq!(p["label"], "laptop");
    assert_eq!(p["source"], "env");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_relays_change_keeps_environment_credentials() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let relay_a = TestServer::start(&[]);
    let relay_b = TestServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let srv = headless(
        &ks,
        &format!("ws://{}", relay_a.addr),
        &tmp.path().join("data"),
        "5000",
    );
    wait_online(&srv).await;
    let url_b = format!("ws://{}", relay_b.addr);
    let (code, b) = env(&srv, "/api/env", json!({"RELAYS": [url_b]})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["nodeActive"], true, "{b}");
    wait_online(&srv).await;
    let s = common::get_json(&srv.url("/api/status")).await;
    let states = s["relayStates"].to_string();
    assert!(states.contains(&url_b), "now on relay B: {s}");
}
