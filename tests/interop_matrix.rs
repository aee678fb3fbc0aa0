//! Live interop matrix: igloo daemons, real `@frostr/bifrost` 1.0.7 nodes and nostr-tools
//! 2.25.2 (tests/interop/js-peer.mjs), all through igloo's relay on 127.0.0.1.
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop` (scripts/test does both).

mod common;
mod interop_common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{TestServer, get_json};
use igloo::frostr::SecretScalar;
use igloo::frostr::keyset::generate;
use igloo::frostr::types::{compressed, x_only};
use interop_common::{JsPeer, LoopRelay, igloo, post, sign_until_ok, verify, wait_connected};
use serde_json::json;

const LONG: Duration = Duration::from_secs(40);

fn direct_ecdh_x(secret: &SecretScalar, peer: &k256::PublicKey) -> [u8; 32] {
    let p = (peer.to_projective() * secret.scalar()).to_affine();
    x_only(&k256::PublicKey::from_affine(p).expect("point"))
}

async fn node_active(server: &TestServer) -> bool {
    get_json(&server.url("/api/status")).await["nodeActive"] == json!(true)
}

/// 2-of-3, igloo (member 1) and a JS node (member 2): sign, ECDH and ping both ways,
/// NIP-44/NIP-04 against nostr-tools, verifyEvent, and a peer going offline and returning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_igloo_and_js() {
    let secret = SecretScalar::from_bytes(&rand::random()).expect("secret");
    let ks = generate(&mut rand::thread_rng(), 2, 3, Some(&secret)).expect("keyset");
    let group_x = ks.group.pubkey_x_only();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let ig = igloo(&ks.group, &ks.shares[0], &relay_url, 3000);
    wait_connected(&ig).await;
    let ig_x = hex::encode(x_only(&ks.shares[0].public_key()));
    let js_x = x_only(&ks.shares[1].public_key());
    let mut js = JsPeer::spawn();
    js.start(&ks.group, &ks.shares[1], &relay_url).await;

    // JS asks igloo to co-sign.
    let msg: [u8; 32] = rand::random();
    let r = js
        .retry_ok(
            json!({"cmd": "sign", "message": hex::encode(msg), "peers": [ig_x]}),
            LONG,
        )
        .await;
    assert!(
        verify(&group_x, &msg, r["sig"].as_str().expect("sig")),
        "{r}"
    );

    // igloo signs an event through the API with the JS node; nostr-tools accepts it.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let unsigned = json!({"pubkey": hex::encode(group_x), "kind": 1, "created_at": now,
        "tags": [["t", "igloo"]], "content": "signed by a 2-of-3 group"});
    let deadline = Instant::now() + LONG;
    let signed = loop {
        let (s, b) = post(&ig, "/api/sign", &json!({ "event": unsigned })).await;
        if s == 200 {
            break b;
        }
        assert!(Instant::now() < deadline, "igloo never signed: {s} {b}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut event = unsigned.clone();
    event["id"] = signed["id"].clone();
    event["sig"] = signed["signature"].clone();
    let v = js.ok(json!({"cmd": "verify_event", "event": event})).await;
    assert_eq!(v["valid"], json!(true), "verifyEvent rejected {event}");
    event["content"] = json!("tampered");
    let v = js.ok(json!({"cmd": "verify_event", "event": event})).await;
    assert_eq!(v["valid"], json!(false), "verifyEvent must catch tampering");

    // Ping both ways.
    js.retry_ok(json!({"cmd": "ping", "peer": ig_x}), LONG)
        .await;
    let (s, b) = post(
        &ig,
        "/api/peers/ping",
        &json!({"target": hex::encode(js_x)}),
    )
    .await;
    assert_eq!((s, b["success"].clone()), (200, json!(true)), "{b}");

    // ECDH requested by JS, answered by igloo = the direct computation.
    let other = SecretScalar::from_bytes(&rand::random()).expect("other");
    let other_pk = other.public_key();
    let r = js
        .ok(json!({"cmd": "ecdh", "pubkey": hex::encode(compressed(&other_pk)), "peers": [ig_x]}))
        .await;
    let secret_hex = r["secret"].as_str().expect("secret");
    assert_eq!(
        &secret_hex[2..],
        hex::encode(direct_ecdh_x(&secret, &other_pk))
    );

    // ECDH requested by igloo, answered by JS, checked by nostr-tools on the other side: what
    // igloo encrypts to `other` decrypts with other's key, and the reverse (NIP-44, NIP-04).
    let other_sk = hex::encode(other.to_bytes().as_ref());
    let other_x = hex::encode(x_only(&other_pk));
    let text = "hello from igloo ✓";
    for nip in ["nip44", "nip04"] {
        let (s, b) = post(
            &ig,
            &format!("/api/{nip}/encrypt"),
            &json!({"peer_pubkey": other_x, "content": text}),
        )
        .await;
        assert_eq!(s, 200, "{nip} encrypt: {b}");
        let r = js
            .ok(json!({"cmd": format!("{nip}_decrypt"), "sk": other_sk,
                "pk": hex::encode(group_x), "content": b["result"]}))
            .await;
        assert_eq!(
            r["result"],
            json!(text),
            "{nip}: nostr-tools decrypts igloo's payload"
        );
        let r = js
            .ok(json!({"cmd": format!("{nip}_encrypt"), "sk": other_sk,
                "pk": hex::encode(group_x), "content": "and back"}))
            .await;
        let (s, b) = post(
            &ig,
            &format!("/api/{nip}/decrypt"),
            &json!({"peer_pubkey": hex::encode(compressed(&other_pk)), "content": r["result"]}),
        )
        .await;
        assert_eq!(
            (s, b["result"].clone()),
            (200, json!("and back")),
            "{nip} decrypt: {b}"
        );
    }

    // The JS node goes offline: a clean 504 within the timeout; igloo's node stays up.
    js.ok(json!({"cmd": "close"})).await;
    let started = Instant::now();
    let (s, b) = post(
        &ig,
        "/api/sign",
        &json!({"message": hex::encode([5u8; 32])}),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (504, Some("SIGN_TIMEOUT")), "{b}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        node_active(&ig).await,
        "the node must stay up after a timeout"
    );
    // It comes back: signing works again.
    js.start(&ks.group, &ks.shares[1], &relay_url).await;
    let msg: [u8; 32] = rand::random();
    let sig = sign_until_ok(&ig, &msg, LONG).await;
    assert!(verify(&group_x, &msg, &sig));
}

/// igloo's relay stops and comes back on the same port: the node reconnects and signs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reconnects_after_relay_restart() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group_x = ks.group.pubkey_x_only();
    let mut relay = LoopRelay::start().await;
    let addr = relay.addr;
    let ig = igloo(&ks.group, &ks.shares[0], &relay.url(), 3000);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let _peer = igloo::node::start_with(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![relay.url()],
        Duration::from_secs(3),
        stop_rx,
    )
    .expect("peer node");
    wait_connected(&ig).await;
    let msg: [u8; 32] = rand::random();
    assert!(verify(
        &group_x,
        &msg,
        &sign_until_ok(&ig, &msg, LONG).await
    ));

    relay.stop().await;
    // While the relay is down nothing can be sent: an error, not a hang or a crash.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = get_json(&ig.url("/api/status")).await;
        if s["health"]["isConnected"] == json!(false) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "igloo never noticed the relay going away: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = post(&ig, "/api/sign", &json!({"message": hex::encode(msg)})).await;
    assert!(s == 503 || s == 504, "sign while the relay is down: {s}");
    assert!(node_active(&ig).await);

    let _relay = LoopRelay::start_at(addr).await;
    wait_connected(&ig).await;
    let msg: [u8; 32] = rand::random();
    assert!(verify(
        &group_x,
        &msg,
        &sign_until_ok(&ig, &msg, Duration::from_secs(60)).await
    ));
}

/// 3-of-5: two igloo daemons (members 1, 2) and two JS nodes (3, 4); member 5 offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_five_two_igloos_and_js() {
    let ks = generate(&mut rand::thread_rng(), 3, 5, None).expect("keyset");
    let group_x = ks.group.pubkey_x_only();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let a = igloo(&ks.group, &ks.shares[0], &url, 5000);
    let b = igloo(&ks.group, &ks.shares[1], &url, 5000);
    wait_connected(&a).await;
    wait_connected(&b).await;
    let xs: Vec<String> = ks
        .shares
        .iter()
        .map(|s| hex::encode(x_only(&s.public_key())))
        .collect();
    let mut c = JsPeer::spawn();
    let mut d = JsPeer::spawn();
    c.start(&ks.group, &ks.shares[2], &url).await;
    d.start(&ks.group, &ks.shares[3], &url).await;

    // JS member 3 with both igloos.
    let msg: [u8; 32] = rand::random();
    let r = c
        .retry_ok(
            json!({"cmd": "sign", "message": hex::encode(msg), "peers": [xs[0], xs[1]]}),
            LONG,
        )
        .await;
    assert!(verify(&group_x, &msg, r["sig"].as_str().expect("sig")));
    // JS member 4 with igloo 2 and JS member 3.
    let msg: [u8; 32] = rand::random();
    let r = d
        .retry_ok(
            json!({"cmd": "sign", "message": hex::encode(msg), "peers": [xs[1], xs[2]]}),
            LONG,
        )
        .await;
    assert!(verify(&group_x, &msg, r["sig"].as_str().expect("sig")));

    // Each igloo signs through its API; pinging first marks the live members online, so the
    // online ones are asked (member 5 never answers).
    for ig in [&a, &b] {
        let (s, _) = post(ig, "/api/peers/ping", &json!({"target": "all"})).await;
        assert_eq!(s, 200);
        let msg: [u8; 32] = rand::random();
        assert!(verify(&group_x, &msg, &sign_until_ok(ig, &msg, LONG).await));
    }
}

/// 11 members, 3-of-11: igloo is member 10, a JS node member 2, an in-process node member
/// 11 — indexes that sort differently as text ("10" < "2").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_members_indexes_2_and_10() {
    let secret = SecretScalar::from_bytes(&rand::random()).expect("secret");
    let ks = generate(&mut rand::thread_rng(), 3, 11, Some(&secret)).expect("keyset");
    let share = |idx: u32| {
        ks.shares
            .iter()
            .find(|s| s.idx == idx)
            .expect("share")
            .clone()
    };
    let group_x = ks.group.pubkey_x_only();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let ig = igloo(&ks.group, &share(10), &url, 5000);
    wait_connected(&ig).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let _n11 = igloo::node::start_with(
        ks.group.clone(),
        share(11),
        vec![url.clone()],
        Duration::from_secs(5),
        stop_rx,
    )
    .expect("node 11");
    let mut js = JsPeer::spawn();
    js.start(&ks.group, &share(2), &url).await;
    let x = |idx: u32| hex::encode(x_only(&share(idx).public_key()));

    let msg: [u8; 32] = rand::random();
    let r = js
        .retry_ok(
            json!({"cmd": "sign", "message": hex::encode(msg), "peers": [x(10), x(11)]}),
            LONG,
        )
        .await;
    assert!(verify(&group_x, &msg, r["sig"].as_str().expect("sig")));

    let other = SecretScalar::from_bytes(&rand::random()).expect("other");
    let r = js
        .ok(
            json!({"cmd": "ecdh", "pubkey": hex::encode(compressed(&other.public_key())),
            "peers": [x(10), x(11)]}),
        )
        .await;
    assert_eq!(
        &r["secret"].as_str().expect("secret")[2..],
        hex::encode(direct_ecdh_x(&secret, &other.public_key()))
    );

    let (s, _) = post(&ig, "/api/peers/ping", &json!({"target": "all"})).await;
    assert_eq!(s, 200);
    let msg: [u8; 32] = rand::random();
    assert!(verify(
        &group_x,
        &msg,
        &sign_until_ok(&ig, &msg, LONG).await
    ));
    // igloo's ECDH over {2, 10, 11}, checked with nostr-tools on the other side.
    let other_x = hex::encode(x_only(&other.public_key()));
    let (s, b) = post(
        &ig,
        "/api/nip44/encrypt",
        &json!({"peer_pubkey": other_x, "content": "eleven"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let r = js
        .ok(
            json!({"cmd": "nip44_decrypt", "sk": hex::encode(other.to_bytes().as_ref()),
            "pk": hex::encode(group_x), "content": b["result"]}),
        )
        .await;
    assert_eq!(r["result"], json!("eleven"));
}
