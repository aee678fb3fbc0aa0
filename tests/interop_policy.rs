//! The v1 share-leak guard against real `@frostr/bifrost` 1.0.7 peers (tests/interop/js-peer.mjs)
//! through igloo's relay on 127.0.0.1, 2-of-3: igloo holds share 1, JS nodes shares 2 and 3.
//!
//! * `allowReceive=false` → igloo ignores the JS peer's sign request (it fails, nothing is
//!   counted) and answers again once re-allowed; `partialsIssued` counts the JS requests;
//! * `allowSend=false` → igloo never asks that JS peer (the peer counts what it receives);
//! * `SIGN_POLICY=approve` → a JS request waits in `/api/sign/pending` until approved; denied,
//!   the JS request fails.
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

mod common;
mod interop_common;

use std::time::{Duration, Instant};

use common::{TestServer, client};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::types::{compressed, x_only};
use interop_common::{JsPeer, LoopRelay, igloo, post, verify, wait_connected};
use serde_json::{Value, json};

fn xonly(ks: &Keyset, share: usize) -> String {
    hex::encode(x_only(&ks.shares[share].public_key()))
}

async fn get(srv: &TestServer, path: &str) -> (u16, Value) {
    let (code, v, _) = common::call(srv, reqwest::Method::GET, path, None, None).await;
    (code, v)
}

async fn put_policy(srv: &TestServer, peer: &str, body: Value) {
    let r = client()
        .put(srv.url(&format!("/api/peers/{peer}/policy")))
        .json(&body)
        .send()
        .await
        .expect("put policy");
    let code = r.status().as_u16();
    let resp: Value = r.json().await.expect("json");
    assert_eq!(code, 200, "PUT policy {body}: {resp}");
}

/// `partialsIssued` for `peer` as `/api/peers` reports it (the list the UI shows).
async fn partials_issued(srv: &TestServer, peer: &str) -> Value {
    let (code, body) = get(srv, "/api/peers").await;
    assert_eq!(code, 200, "{body}");
    let peers = body["peers"].as_array().expect("peers array");
    let entry = peers
        .iter()
        .find(|p| p["policy"]["normalizedPubkey"] == json!(peer))
        .unwrap_or_else(|| panic!("{peer} not in /api/peers: {body}"));
    entry["partialsIssued"].clone()
}

/// Waits until `/api/peers` counts `want` partials for `peer` (counting may trail the reply).
async fn wait_partials(srv: &TestServer, peer: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = partials_issued(srv, peer).await;
        if got == json!(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "partialsIssued for {peer} is {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sign requests the JS peer has received from `sender` (x-only hex).
async fn requests_from(js: &mut JsPeer, sender: &str) -> u64 {
    let v = js.ok(json!({ "cmd": "stats" })).await;
    v["signRequests"][sender].as_u64().unwrap_or(0)
}

/// The JS peer's sign request to `peers`, in the background, so the test can act meanwhile.
fn js_sign_in_background(
    mut js: JsPeer,
    msg: [u8; 32],
    peers: Vec<String>,
) -> tokio::task::JoinHandle<(JsPeer, Value)> {
    tokio::spawn(async move {
        let v = js
            .call(json!({ "cmd": "sign", "message": hex::encode(msg), "peers": peers }))
            .await;
        (js, v)
    })
}

struct Setup {
    ks: Keyset,
    group_x: [u8; 32],
    _relay: LoopRelay,
    igloo: TestServer,
    ig_x: String,
}

async fn setup(extra: &[&str]) -> Setup {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let relay = LoopRelay::start().await;
    let igloo = if extra.is_empty() {
        igloo(&ks.group, &ks.shares[0], &relay.url(), 10_000)
    } else {
        let g = igloo::frostr::credentials::encode_group(&ks.group);
        let s = igloo::frostr::credentials::encode_share(&ks.shares[0]);
        let url = relay.url();
        let mut args = vec![
            "--headless",
            "true",
            "--group-cred",
            &g,
            "--share-cred",
            &s,
            "--relays",
            &url,
            "--relay-enabled",
            "false",
            "--frostr-sign-timeout",
            "10000",
        ];
        args.extend_from_slice(extra);
        TestServer::start(&args)
    };
    wait_connected(&igloo).await;
    let ig_x = xonly(&ks, 0);
    Setup {
        group_x: ks.group.pubkey_x_only(),
        ks,
        _relay: relay,
        igloo,
        ig_x,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_receive_false_silences_igloo_for_a_js_requester() {
    let s = setup(&[]).await;
    let a_x = xonly(&s.ks, 1);
    let mut a = JsPeer::spawn();
    a.start(&s.ks.group, &s.ks.shares[1], &s.igloo_relay_url())
        .await;

    // Baseline: igloo answers the JS requester and counts the partial.
    let msg: [u8; 32] = rand::random();
    let v = a
        .retry_ok(
            json!({ "cmd": "sign", "message": hex::encode(msg), "peers": [s.ig_x] }),
            Duration::from_secs(60),
        )
        .await;
    assert!(verify(&s.group_x, &msg, v["sig"].as_str().expect("sig")));
    wait_partials(&s.igloo, &a_x, 1).await;

    // Refused: bifrost's request times out (5 s) and nothing more is counted.
    put_policy(&s.igloo, &a_x, json!({ "allowReceive": false })).await;
    let v = a
        .call(
            json!({ "cmd": "sign", "message": hex::encode(rand::random::<[u8; 32]>()),
                      "peers": [s.ig_x] }),
        )
        .await;
    assert_eq!(v["ok"], json!(false), "igloo answered a refused peer: {v}");
    assert_eq!(partials_issued(&s.igloo, &a_x).await, json!(1));

    // Re-allowed: answering resumes, and the count goes on from where it was.
    put_policy(&s.igloo, &a_x, json!({ "allowReceive": true })).await;
    for _ in 0..2 {
        let msg: [u8; 32] = rand::random();
        let v = a
            .ok(json!({ "cmd": "sign", "message": hex::encode(msg), "peers": [s.ig_x] }))
            .await;
        assert!(verify(&s.group_x, &msg, v["sig"].as_str().expect("sig")));
    }
    wait_partials(&s.igloo, &a_x, 3).await;
    let (_, p) = get(&s.igloo, &format!("/api/peers/{a_x}/policy")).await;
    assert_eq!(p["policy"]["partialsIssued"], json!(3), "{p}");
    assert_eq!(p["policy"]["allowReceive"], json!(true), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_send_false_means_igloo_never_asks_that_js_peer() {
    let s = setup(&[]).await;
    let (a_x, b_x) = (xonly(&s.ks, 1), xonly(&s.ks, 2));
    let mut a = JsPeer::spawn();
    a.start(&s.ks.group, &s.ks.shares[1], &s.igloo_relay_url())
        .await;
    let mut b = JsPeer::spawn();
    b.start(&s.ks.group, &s.ks.shares[2], &s.igloo_relay_url())
        .await;
    // Both JS peers reach igloo (so both are subscribed and seen online).
    for js in [&mut a, &mut b] {
        js.retry_ok(
            json!({ "cmd": "ping", "peer": s.ig_x }),
            Duration::from_secs(60),
        )
        .await;
    }

    // B is never asked: every signature comes from A.
    put_policy(&s.igloo, &b_x, json!({ "allowSend": false })).await;
    let (a0, b0) = (
        requests_from(&mut a, &s.ig_x).await,
        requests_from(&mut b, &s.ig_x).await,
    );
    for i in 0..4 {
        let msg: [u8; 32] = rand::random();
        let (code, body) = post(
            &s.igloo,
            "/api/sign",
            &json!({ "message": hex::encode(msg) }),
        )
        .await;
        assert_eq!(code, 200, "sign {i}: {body}");
        assert!(verify(
            &s.group_x,
            &msg,
            body["signature"].as_str().expect("signature")
        ));
    }
    assert_eq!(
        requests_from(&mut a, &s.ig_x).await,
        a0 + 4,
        "A answered each"
    );
    assert_eq!(requests_from(&mut b, &s.ig_x).await, b0, "B was asked");

    // Neither may be asked: not enough peers, and still nothing reaches B.
    put_policy(&s.igloo, &a_x, json!({ "allowSend": false })).await;
    let (code, body) = post(
        &s.igloo,
        "/api/sign",
        &json!({ "message": hex::encode(rand::random::<[u8; 32]>()) }),
    )
    .await;
    assert_eq!(
        (code, body["code"].clone()),
        (503, json!("NODE_UNAVAILABLE")),
        "{body}"
    );
    assert_eq!(requests_from(&mut b, &s.ig_x).await, b0);

    // Control: with B allowed (and A not), B is the one asked, so the counter does count.
    put_policy(&s.igloo, &b_x, json!({ "allowSend": true })).await;
    let msg: [u8; 32] = rand::random();
    let (code, body) = post(
        &s.igloo,
        "/api/sign",
        &json!({ "message": hex::encode(msg) }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(verify(
        &s.group_x,
        &msg,
        body["signature"].as_str().expect("signature")
    ));
    assert_eq!(requests_from(&mut b, &s.ig_x).await, b0 + 1);
    assert_eq!(requests_from(&mut a, &s.ig_x).await, a0 + 4);
}

/// Waits for the first queued request in `/api/sign/pending`.
async fn wait_pending(srv: &TestServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let (code, body) = get(srv, "/api/sign/pending").await;
        assert_eq!(code, 200, "{body}");
        if let Some(p) = body["pending"].as_array().and_then(|a| a.first()) {
            return p.clone();
        }
        assert!(Instant::now() < deadline, "no request queued: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_mode_holds_a_js_request_until_approved() {
    let s = setup(&["--sign-policy", "approve"]).await;
    let a_x = xonly(&s.ks, 1);
    let mut a = JsPeer::spawn();
    a.start(&s.ks.group, &s.ks.shares[1], &s.igloo_relay_url())
        .await;
    a.retry_ok(
        json!({ "cmd": "ping", "peer": s.ig_x }),
        Duration::from_secs(60),
    )
    .await;
    let (_, body) = get(&s.igloo, "/api/sign/pending").await;
    assert_eq!(body["policy"], json!("approve"), "{body}");

    // Approved: the JS request completes with a valid signature, counted once.
    let msg: [u8; 32] = rand::random();
    let job = js_sign_in_background(a, msg, vec![s.ig_x.clone()]);
    let p = wait_pending(&s.igloo).await;
    assert_eq!(
        p["peer"],
        json!(hex::encode(compressed(&s.ks.shares[1].public_key())))
    );
    assert_eq!(p["sighashes"].as_array().map(Vec::len), Some(1), "{p}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !job.is_finished(),
        "the JS request finished before approval"
    );
    assert_eq!(partials_issued(&s.igloo, &a_x).await, json!(0));
    let id = p["id"].as_str().expect("id").to_owned();
    let (code, body) = post(
        &s.igloo,
        &format!("/api/sign/pending/{id}/approve"),
        &json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (a, v) = job.await.expect("join");
    assert_eq!(v["ok"], json!(true), "approved JS request failed: {v}");
    assert!(verify(&s.group_x, &msg, v["sig"].as_str().expect("sig")));
    wait_partials(&s.igloo, &a_x, 1).await;

    // Denied: the JS request fails and nothing more is counted.
    let job = js_sign_in_background(a, rand::random(), vec![s.ig_x.clone()]);
    let id = wait_pending(&s.igloo).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, body) = post(
        &s.igloo,
        &format!("/api/sign/pending/{id}/deny"),
        &json!({}),
    )
    .await;
    assert_eq!((code, body["denied"].clone()), (200, json!(true)), "{body}");
    let (_a, v) = job.await.expect("join");
    assert_eq!(v["ok"], json!(false), "a denied request was signed: {v}");
    assert_eq!(partials_issued(&s.igloo, &a_x).await, json!(1));
    let (_, body) = get(&s.igloo, "/api/sign/pending").await;
    assert_eq!(body["pending"], json!([]), "{body}");
}

impl Setup {
    fn igloo_relay_url(&self) -> String {
        self._relay.url()
    }
}
