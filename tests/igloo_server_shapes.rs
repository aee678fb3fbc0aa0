//! Response shapes that scripts written for igloo-server rely on (FROSTR-ORG/igloo-server
//! src/routes/peers.ts), with two v1 daemons through a relay on 127.0.0.1:
//! * `POST /api/peers/ping` for one target: `pubkey` echoes the target as given, `status` is
//!   `{pubkey, online, lastSeen, latency}` (answered) or `{pubkey, online: false,
//!   lastPingAttempt}` (not answered);
//! * `/api/peers/self` and `/api/peers/policies` give x-only keys; the single-policy routes
//!   echo the key as the caller wrote it (x-only, compressed or npub all accepted), with the
//!   x-only `normalizedPubkey`; `/api/peers` keeps the group's compressed keys;
//! * `NODE_HEALTH_MAX_RESTARTS` defaults to 3 (igloo-server's documented default).

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, call};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::nip19;
use igloo::frostr::types::{compressed, x_only};
use reqwest::Method;
use serde_json::{Value, json};

fn signer(ks: &Keyset, share: usize, relay: &str) -> TestServer {
    let group = encode_group(&ks.group);
    let share = encode_share(&ks.shares[share]);
    TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &group,
        "--share-cred",
        &share,
        "--relays",
        relay,
        "--relay-enabled",
        "false",
    ])
}

async fn req(srv: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (code, v, _) = call(srv, method, path, None, body).await;
    assert_eq!(code, 200, "{path}: {v}");
    v
}

fn is_iso(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() >= 20 && s.ends_with('Z') && s.contains('T'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_routes_answer_in_igloo_server_shapes() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let a = signer(&ks, 0, &url);
    let b = signer(&ks, 1, &url);
    common::wait_node_connected(&a.url("/api/status")).await;
    common::wait_node_connected(&b.url("/api/status")).await;
    let key = |i: usize| ks.shares[i].public_key();
    let b_x = hex::encode(x_only(&key(1)));
    let b_c = hex::encode(compressed(&key(1)));
    let c_c = hex::encode(compressed(&key(2)));

    // Ping B by its compressed key until it answers: the answer echoes that form.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pong = loop {
        let v = req(
            &a,
            Method::POST,
            "/api/peers/ping",
            Some(json!({ "target": b_c })),
        )
        .await;
        if v["success"] == json!(true) {
            break v;
        }
        assert!(Instant::now() < deadline, "B never answered: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(pong["pubkey"], json!(b_c), "{pong}");
    assert!(pong["latency"].is_u64(), "{pong}");
    let st = &pong["status"];
    assert_eq!(st["pubkey"], json!(b_c), "{pong}");
    assert_eq!(st["online"], json!(true), "{pong}");
    assert!(is_iso(&st["lastSeen"]), "{pong}");
    assert_eq!(st["latency"], pong["latency"], "{pong}");
    assert!(pong.get("error").is_none(), "{pong}");
    // By its x-only key: echoed as x-only.
    let pong = req(
        &a,
        Method::POST,
        "/api/peers/ping",
        Some(json!({ "target": b_x })),
    )
    .await;
    assert_eq!(pong["pubkey"], json!(b_x), "{pong}");
    assert_eq!(pong["status"]["pubkey"], json!(b_x), "{pong}");
    // C is not running: no answer, `status` says when we tried.
    let miss = req(
        &a,
        Method::POST,
        "/api/peers/ping",
        Some(json!({ "target": c_c })),
    )
    .await;
    assert_eq!(miss["success"], json!(false), "{miss}");
    assert_eq!(miss["pubkey"], json!(c_c), "{miss}");
    assert!(miss["error"].is_string(), "{miss}");
    let st = &miss["status"];
    assert_eq!(
        (st["pubkey"].clone(), st["online"].clone()),
        (json!(c_c), json!(false)),
        "{miss}"
    );
    assert!(is_iso(&st["lastPingAttempt"]), "{miss}");
    assert!(st.get("lastSeen").is_none(), "{miss}");

    // Our own key: x-only.
    let me = req(&a, Method::GET, "/api/peers/self", None).await;
    assert_eq!(me["pubkey"], json!(hex::encode(x_only(&key(0)))), "{me}");

    // Policies: the list in x-only; one policy echoes the key as given, in every form.
    let all = req(&a, Method::GET, "/api/peers/policies", None).await;
    let listed: Vec<Value> = all["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| p["pubkey"].clone())
        .collect();
    assert!(listed.contains(&json!(b_x)), "{all}");
    assert!(
        listed
            .iter()
            .all(|k| k.as_str().is_some_and(|s| s.len() == 64)),
        "{all}"
    );
    let npub = nip19::encode_npub(&x_only(&key(1)));
    for given in [b_x.clone(), b_c.clone(), npub.to_string()] {
        let v = req(&a, Method::GET, &format!("/api/peers/{given}/policy"), None).await;
        assert_eq!(v["policy"]["pubkey"], json!(given), "{v}");
        assert_eq!(v["policy"]["normalizedPubkey"], json!(b_x), "{v}");
    }
    let v = req(
        &a,
        Method::PUT,
        &format!("/api/peers/{b_c}/policy"),
        Some(json!({ "label": "laptop" })),
    )
    .await;
    assert_eq!(v["policy"]["pubkey"], json!(b_c), "{v}");
    // The peer list keeps the group's compressed keys.
    let peers = req(&a, Method::GET, "/api/peers", None).await;
    let entry = peers["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["policy"]["normalizedPubkey"] == json!(b_x))
        .expect("B listed")
        .clone();
    assert_eq!(entry["pubkey"], json!(b_c), "{entry}");
    assert_eq!(entry["policy"]["pubkey"], json!(b_c), "{entry}");
}

#[test]
fn node_health_max_restarts_defaults_to_three() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_igloo"))
        .arg("--help")
        .env_remove("NODE_HEALTH_MAX_RESTARTS")
        .output()
        .expect("igloo --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let at = help
        .find("env: NODE_HEALTH_MAX_RESTARTS")
        .expect("the setting is documented");
    let rest = &help[at..];
    let default = rest
        .find("[default: ")
        .map(|i| &rest[i + 10..])
        .and_then(|r| r.split(']').next())
        .expect("a default");
    assert_eq!(default, "3", "{rest}");
}
