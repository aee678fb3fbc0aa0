//! 3-of-5 across processes: two `igloo` binaries (shares 1 and 2, headless, configured only
//! through the environment) and real `@frostr/bifrost` 1.0.7 nodes (shares 3 and 4), all on one
//! igloo relay on 127.0.0.1.
//!
//! * a JS requester signs with both igloo processes answering;
//! * `POST /api/sign` on one igloo process is answered by the other igloo process and a JS node.
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

mod common;
mod interop_common;

use std::time::{Duration, Instant};

use common::client;
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::types::x_only;
use interop_common::{IglooProcess, JsPeer, LoopRelay, verify};
use serde_json::{Value, json};

async fn get(p: &IglooProcess, path: &str) -> Value {
    client()
        .get(p.url(path))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

async fn send(p: &IglooProcess, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .request(method, p.url(path))
        .json(body)
        .send()
        .await
        .expect("request");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn allow_send(p: &IglooProcess, peer: &str, allow: bool) {
    let (code, body) = send(
        p,
        reqwest::Method::PUT,
        &format!("/api/peers/{peer}/policy"),
        &json!({ "allowSend": allow }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

async fn partials_issued(p: &IglooProcess, peer: &str) -> Value {
    get(p, &format!("/api/peers/{peer}/policy")).await["policy"]["partialsIssued"].clone()
}

fn xonly(ks: &Keyset, share: usize) -> String {
    hex::encode(x_only(&ks.shares[share].public_key()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_five_with_two_igloo_processes_and_js_nodes() {
    let ks = generate(&mut rand::thread_rng(), 3, 5, None).expect("keyset");
    let group_x = ks.group.pubkey_x_only();
    let relay = LoopRelay::start().await;
    let p1 = IglooProcess::spawn(&ks.group, &ks.shares[0], &relay.url(), 10_000, &[]);
    let p2 = IglooProcess::spawn(&ks.group, &ks.shares[1], &relay.url(), 10_000, &[]);
    p1.wait_connected().await;
    p2.wait_connected().await;
    let (p1_x, p2_x, j4_x, j5_x) = (xonly(&ks, 0), xonly(&ks, 1), xonly(&ks, 3), xonly(&ks, 4));
    let mut j3 = JsPeer::spawn();
    j3.start(&ks.group, &ks.shares[2], &relay.url()).await;
    let mut j4 = JsPeer::spawn();
    j4.start(&ks.group, &ks.shares[3], &relay.url()).await;

    // A JS requester (share 4) with both igloo processes answering.
    let msg: [u8; 32] = rand::random();
    let v = j4
        .retry_ok(
            json!({ "cmd": "sign", "message": hex::encode(msg), "peers": [p1_x, p2_x] }),
            Duration::from_secs(60),
        )
        .await;
    assert!(
        verify(&group_x, &msg, v["sig"].as_str().expect("sig")),
        "JS-aggregated 3-of-5 signature: {v}"
    );
    assert_eq!(partials_issued(&p1, &j4_x).await, json!(1));
    assert_eq!(partials_issued(&p2, &j4_x).await, json!(1));

    // POST /api/sign on P1, answered by P2 and JS node 3: P1 may not ask 4 or 5.
    allow_send(&p1, &j4_x, false).await;
    allow_send(&p1, &j5_x, false).await;
    let before = j3.ok(json!({ "cmd": "stats" })).await["signRequests"][&p1_x]
        .as_u64()
        .unwrap_or(0);
    let msg: [u8; 32] = rand::random();
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        // Retried: P1 may not have seen P2's and J3's subscriptions go live yet.
        let (code, body) = send(
            &p1,
            reqwest::Method::POST,
            "/api/sign",
            &json!({ "message": hex::encode(msg) }),
        )
        .await;
        if code == 200 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "igloo never signed: {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(verify(
        &group_x,
        &msg,
        body["signature"].as_str().expect("signature")
    ));
    assert!(partials_issued(&p2, &p1_x).await.as_u64().unwrap_or(0) >= 1);
    let after = j3.ok(json!({ "cmd": "stats" })).await["signRequests"][&p1_x]
        .as_u64()
        .unwrap_or(0);
    assert!(after > before, "JS node 3 was not asked by P1");
    let j4_asked = j4.ok(json!({ "cmd": "stats" })).await["signRequests"][&p1_x]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(j4_asked, 0, "P1 asked a peer it may not ask");

    // An event signed the same way is complete and valid for nostr-tools.
    let (code, body) = send(
        &p1,
        reqwest::Method::POST,
        "/api/sign",
        &json!({ "event": { "kind": 1, "content": "3-of-5 across processes",
                                "tags": [], "created_at": 1_700_000_000 } }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = j3
        .ok(json!({ "cmd": "verify_event", "event": body["event"] }))
        .await;
    assert_eq!(v["valid"], json!(true), "nostr-tools rejects {body}");
    assert_eq!(body["event"]["pubkey"], json!(hex::encode(group_x)));
}
