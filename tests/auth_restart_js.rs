//! Always-on after a power cut, against a real `@frostr/bifrost` 1.0.7 peer (issue 6, Tests,
//! third bullet): a daemon whose owner stored credentials is stopped and started again on the
//! same data directory with nobody logging in, and the JS peer's sign request is answered with
//! a valid group signature. With an owner passphrase the restarted daemon stays locked, the JS
//! request goes unanswered, and after `POST /api/unlock` it is answered again.
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

mod common;
mod interop_common;

use std::time::{Duration, Instant};

use common::{TestServer, call, login_as, onboard_admin};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use interop_common::{JsPeer, LoopRelay, verify};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const PASS: &str = "Gl4cier!Pw";
const PASSPHRASE: &str = "owner passphrase 1";
const LONG: Duration = Duration::from_secs(40);

async fn wait_status(srv: &TestServer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + LONG;
    loop {
        let (_, s, _) = call(srv, Method::GET, "/api/status", None, None).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn online(s: &Value) -> bool {
    s["nodeActive"] == json!(true) && s["health"]["isConnected"] == json!(true)
}

/// The JS peer asks igloo (only) for a signature until it is answered; the result must verify
/// under the group key.
async fn js_signs_with_igloo(js: &mut JsPeer, igloo_x: &str, group_x: &[u8; 32]) {
    let msg: [u8; 32] = rand::random();
    let r = js
        .retry_ok(
            json!({"cmd": "sign", "message": hex::encode(msg), "peers": [igloo_x]}),
            LONG,
        )
        .await;
    let sig = r["sig"].as_str().expect("sig");
    assert!(verify(group_x, &msg, sig), "invalid group signature: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_peer_is_answered_after_restart_and_only_after_unlock() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group_x = ks.group.pubkey_x_only();
    let igloo_x = hex::encode(x_only(&ks.shares[0].public_key()));
    let mut relay = LoopRelay::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let args = [
        "--auth-enabled",
        "true",
        "--admin-secret",
        ADMIN_SECRET,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "10000",
    ];

    // Default mode: onboarding → login → credentials; then the power goes.
    let srv = TestServer::start_in(dir.clone(), &args);
    let sid = onboard_admin(&srv, ADMIN_SECRET, PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/user/credentials",
        Some(("x-session-id", &sid)),
        Some(json!({
            "group_cred": encode_group(&ks.group),
            "share_cred": encode_share(&ks.shares[0]).as_str(),
            "relays": [relay.url()],
        })),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    srv.stop().expect("clean stop");

    let mut js = JsPeer::spawn();
    js.start(&ks.group, &ks.shares[1], &relay.url()).await;

    // Restart with nobody logging in: the node comes up from the sealed store and answers.
    let srv = TestServer::start_in(dir.clone(), &args);
    let s = wait_status(&srv, "node start without login", online).await;
    assert_eq!(s["locked"], json!(false));
    js_signs_with_igloo(&mut js, &igloo_x, &group_x).await;

    // The owner sets a passphrase; from the next start on the secrets are locked.
    let sid = login_as(&srv, "admin", PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/passphrase",
        Some(("x-session-id", &sid)),
        Some(json!({"passphrase": PASSPHRASE})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    srv.stop().expect("clean stop");

    let srv = TestServer::start_in(dir.clone(), &args);
    let (_, s, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(s["locked"], json!(true), "{s}");
    assert_eq!(s["nodeActive"], json!(false), "{s}");
    // Locked: the JS request is not answered (bifrost gives up after its 5 s request timeout).
    let msg: [u8; 32] = rand::random();
    let r = js
        .call(json!({"cmd": "sign", "message": hex::encode(msg), "peers": [igloo_x]}))
        .await;
    assert_eq!(r["ok"], json!(false), "a locked node answered: {r}");
    let (_, s, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(s["nodeActive"], json!(false), "still locked: {s}");

    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/unlock",
        None,
        Some(json!({"passphrase": PASSPHRASE})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let s = wait_status(&srv, "node start after unlock", online).await;
    assert_eq!(s["locked"], json!(false));
    js_signs_with_igloo(&mut js, &igloo_x, &group_x).await;

    drop(js);
    srv.stop().expect("clean stop");
    relay.stop().await;
}
