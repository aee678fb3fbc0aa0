//! Secrets at rest and always-on: no credential in the clear anywhere in the data directory;
//! after a restart with nobody logged in the node answers a peer's sign request; with an owner
//! passphrase it waits, locked, until `POST /api/unlock`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestServer, call, onboard_admin};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::types::x_only;
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const PASS: &str = "Gl4cier!Pw";

/// Every secret of share `i` in the forms it could leak: bech32 and raw hex.
fn share_secrets(ks: &Keyset, i: usize) -> Vec<String> {
    let s = &ks.shares[i];
    vec![
        encode_share(s).to_string(),
        hex::encode(*s.seckey.to_bytes()),
        hex::encode(*s.binder_sn.to_bytes()),
        hex::encode(*s.hidden_sn.to_bytes()),
    ]
}

/// Asserts that no file under `dir` contains any of `needles` (as text or raw bytes).
fn assert_dir_clean(dir: &Path, needles: &[String], raw: &[[u8; 32]]) {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&p).unwrap();
            for n in needles {
                assert!(
                    !bytes
                        .windows(n.len())
                        .any(|w| w.eq_ignore_ascii_case(n.as_bytes())),
                    "{} holds a secret in the clear",
                    p.display()
                );
            }
            for r in raw {
                assert!(
                    !bytes.windows(32).any(|w| w == r),
                    "{} holds raw secret bytes",
                    p.display()
                );
            }
        }
    }
    assert!(files >= 2, "the store and the device key were scanned");
}

async fn wait_for(srv: &TestServer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s, _) = call(srv, Method::GET, "/api/status", None, None).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn headless_peer(ks: &Keyset, share: usize, relay: &str) -> TestServer {
    TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &encode_group(&ks.group),
        "--share-cred",
        &encode_share(&ks.shares[share]),
        "--relays",
        relay,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "10000",
    ])
}

/// The peer asks for a signature until the restarted node answers (it must be online).
async fn peer_signs_with(peer: &TestServer, target_xonly: &[u8; 32]) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (code, body, _) = call(
            peer,
            Method::POST,
            "/api/peers/ping",
            None,
            Some(json!({"target": hex::encode(target_xonly)})),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        if body["success"] == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node never answered a ping: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let msg: [u8; 32] = rand::random();
    let (code, body, _) = call(
        peer,
        Method::POST,
        "/api/sign",
        None,
        Some(json!({"message": hex::encode(msg)})),
    )
    .await;
    assert_eq!(code, 200, "sign with the restarted node: {body}");
    assert_eq!(body["signature"].as_str().map(str::len), Some(128));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_sealed_at_rest_and_node_signs_after_restart_and_unlock() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = [
        "--auth-enabled",
        "true",
        "--admin-secret",
        ADMIN_SECRET,
        "--relay-enabled",
        "false",
    ];

    let srv = TestServer::start_in(dir.clone(), &args);
    let sid = onboard_admin(&srv, ADMIN_SECRET, PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/user/credentials",
        Some(("x-session-id", &sid)),
        Some(json!({"group_cred": encode_group(&ks.group), "share_cred": encode_share(&ks.shares[0]).as_str(), "relays": [relay_url]})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    srv.stop().unwrap();
    let mut needles = share_secrets(&ks, 0);
    needles.push(encode_group(&ks.group));
    let raw = [*ks.shares[0].seckey.to_bytes()];
    assert_dir_clean(&dir, &needles, &raw);

    // Restart: nobody logs in, the node is up and answers a peer.
    let srv = TestServer::start_in(dir.clone(), &args);
    let s = wait_for(&srv, "node start", |s| {
        s["nodeActive"] == json!(true) && s["health"]["isConnected"] == json!(true)
    })
    .await;
    assert_eq!(s["locked"], false);
    let peer = headless_peer(&ks, 1, &relay_url);
    let me = x_only(&ks.shares[0].public_key());
    peer_signs_with(&peer, &me).await;

    // An owner passphrase locks the secrets from the next start on.
    let sid = {
        let (code, b, _) = call(
            &srv,
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "admin", "password": PASS})),
        )
        .await;
        assert_eq!(code, 200);
        b["sessionId"].as_str().unwrap().to_string()
    };
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/admin/passphrase",
        Some(("x-session-id", &sid)),
        Some(json!({"passphrase": "short"})),
    )
    .await;
    assert_eq!(code, 400);
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/passphrase",
        Some(("x-session-id", &sid)),
        Some(json!({"passphrase": "owner passphrase 1"})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    srv.stop().unwrap();
    assert_dir_clean(&dir, &needles, &raw);

    let srv = TestServer::start_in(dir.clone(), &args);
    let (_, s, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(s["locked"], true);
    assert_eq!(s["nodeActive"], false, "locked: the node waits");
    // Logging in still works; credentials cannot be read while locked.
    let (_, b, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": PASS})),
    )
    .await;
    let sid = b["sessionId"].as_str().unwrap().to_string();
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/credentials",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 423);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/unlock",
        None,
        Some(json!({"passphrase": "wrong passphrase"})),
    )
    .await;
    assert_eq!(code, 401);
    let (code, _, _) = call(&srv, Method::POST, "/api/unlock", None, Some(json!({}))).await;
    assert_eq!(code, 400);
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/unlock",
        None,
        Some(json!({"passphrase": "owner passphrase 1"})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["nodeActive"], true);
    wait_for(&srv, "reconnect", |s| {
        s["locked"] == json!(false) && s["health"]["isConnected"] == json!(true)
    })
    .await;
    peer_signs_with(&peer, &me).await;
}

#[tokio::test]
async fn headless_env_credentials_are_sealed_too() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let srv = TestServer::start_in(
        dir.clone(),
        &[
            "--auth-enabled",
            "true",
            "--headless",
            "true",
            "--api-key",
            "k-123456",
            "--relays",
            "ws://127.0.0.1:9",
        ],
    );
    let body = json!({"groupCredential": encode_group(&ks.group), "shareCredential": encode_share(&ks.shares[2]).as_str()});
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/env/shares",
        Some(("x-api-key", "k-123456")),
        Some(body),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    srv.stop().unwrap();
    let mut needles = share_secrets(&ks, 2);
    needles.push(encode_group(&ks.group));
    assert_dir_clean(&dir, &needles, &[*ks.shares[2].seckey.to_bytes()]);
    // And the node comes back from the store at the next start.
    let srv = TestServer::start_in(
        dir,
        &[
            "--auth-enabled",
            "true",
            "--headless",
            "true",
            "--api-key",
            "k-123456",
            "--relays",
            "ws://127.0.0.1:9",
        ],
    );
    let (_, s, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(s["nodeActive"], true);
}
