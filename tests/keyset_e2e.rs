//! The whole V2 story over real sockets: daemon A migrates a v1 keyset through
//! `POST /api/keyset/migrate`; daemon B (a fresh node) imports one of the `bfonboard` packages
//! A made, onboards from A over our relay, and the two sign together: signatures from either
//! side's `POST /api/sign` verify under the ORIGINAL v1 group key (same npub).

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use k256::schnorr::signature::hazmat::PrehashVerifier;
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const ADMIN_PASS: &str = "Gl4cier!Pw";
const PKG_PW: &str = "package password 1";
const API_KEY: &str = "headless-key-123";

async fn call(
    srv: &TestServer,
    method: Method,
    path: &str,
    auth: (&str, &str),
    body: Option<Value>,
) -> (u16, Value) {
    let (code, v, _) = common::call(srv, method, path, Some(auth), body).await;
    (code, v)
}

/// Signs `msg` through `srv` until it works (peers need a ping round for nonces first).
async fn sign_until_ok(srv: &TestServer, auth: (&str, &str), msg: &[u8; 32]) -> [u8; 64] {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (code, b) = call(
            srv,
            Method::POST,
            "/api/sign",
            auth,
            Some(json!({"message": hex::encode(msg)})),
        )
        .await;
        if code == 200 {
            let sig = hex::decode(b["signature"].as_str().expect("signature")).unwrap();
            return sig.try_into().expect("64 bytes");
        }
        assert!(Instant::now() < deadline, "no signature: {code} {b}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn verifies(group_x: &[u8; 32], msg: &[u8; 32], sig: &[u8; 64]) -> bool {
    let vk = k256::schnorr::VerifyingKey::from_bytes(group_x).unwrap();
    let sig = k256::schnorr::Signature::try_from(&sig[..]).unwrap();
    vk.verify_prehash(msg, &sig).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_then_onboard_a_second_node_and_sign_under_the_v1_key() {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group_x = ks.group.pubkey_x_only();

    // A: the owner's appliance, default mode, migrates with two v1 shares.
    let a = TestServer::start(&[
        "--auth-enabled",
        "true",
        "--admin-secret",
        ADMIN_SECRET,
        "--rate-limit-enabled",
        "false",
        "--relays",
        &url,
    ]);
    let sid = common::onboard_admin(&a, ADMIN_SECRET, ADMIN_PASS).await;
    let a_auth = ("x-session-id", sid.as_str());
    let shares: Vec<String> = ks.shares[..2]
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let (code, m) = call(
        &a,
        Method::POST,
        "/api/keyset/migrate",
        a_auth,
        Some(json!({"group": encode_group(&ks.group), "shares": shares, "password": PKG_PW, "relays": [url]})),
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["nodeActive"], true, "{m}");
    let onboard = m["onboard"][0]["bfonboard"].as_str().expect("bfonboard");

    // B: a fresh headless node given only the bfonboard package and its password.
    let b = TestServer::start(&[
        "--auth-enabled",
        "true",
        "--headless",
        "true",
        "--api-key",
        API_KEY,
        "--rate-limit-enabled",
        "false",
        "--relays",
        &url,
    ]);
    let b_auth = ("x-api-key", API_KEY);
    let (code, r) = call(
        &b,
        Method::POST,
        "/api/keyset/import",
        b_auth,
        Some(json!({"bfonboard": onboard, "password": PKG_PW})),
    )
    .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["credentials"]["pendingOnboard"], true, "{r}");

    let t0 = Instant::now();
    // Onboarding completes in the background; then B runs V2 with A's group.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, st) = call(&b, Method::GET, "/api/status", b_auth, None).await;
        if st["protocol"] == "v2" && st["nodeActive"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "B never ran V2: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    eprintln!("B onboarded after {:?}", t0.elapsed());
    // Either side asks, the other answers; both verify under the v1 group key.
    let m1: [u8; 32] = rand::random();
    let sig = sign_until_ok(&a, a_auth, &m1).await;
    assert!(
        verifies(&group_x, &m1, &sig),
        "A's signature under the v1 key"
    );
    eprintln!("A signed after {:?}", t0.elapsed());
    let m2: [u8; 32] = rand::random();
    let sig = sign_until_ok(&b, b_auth, &m2).await;
    assert!(
        verifies(&group_x, &m2, &sig),
        "B's signature under the v1 key"
    );
    assert!(
        !verifies(&group_x, &m1, &sig),
        "a signature is bound to its message"
    );

    eprintln!("B signed after {:?}", t0.elapsed());
    // B saved the group it learnt, so its next start needs no onboarding.
    let (_, k) = call(&b, Method::GET, "/api/keyset", b_auth, None).await;
    assert_eq!(
        (k["protocol"].as_str(), k["v2"]["complete"].as_bool()),
        (Some("v2"), Some(true)),
        "{k}"
    );
}
