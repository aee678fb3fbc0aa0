//! A real `@frostr/bifrost` 1.0.7 requester (tests/interop/js-peer.mjs) pushes two sighashes
//! through its sign queue within one `sign_ival` (100 ms), as Igloo Desktop and Frost2x do:
//! bifrost sends both in ONE `/sign/req`, igloo answers it, both signatures verify, and igloo
//! counts two partial signatures for that peer. Three sighashes in one session stay refused
//! (tests/node_sign.rs, tests/node_policy.rs).
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

mod common;
mod interop_common;

use std::time::Duration;

use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use interop_common::{JsPeer, LoopRelay, igloo, verify, wait_connected};
use nostr::prelude::{ClientMessage, Filter, Kind, PublicKey, RelayMessage, SubscriptionId};
use serde_json::{Value, json};

mod relay_common;

async fn peers(srv: &common::TestServer) -> Value {
    let (code, v, _) = common::call(srv, reqwest::Method::GET, "/api/peers", None, None).await;
    assert_eq!(code, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bifrost_batches_two_sighashes_in_one_request_and_igloo_signs_both() {
    // 2-of-2: the JS requester (share 2) has exactly one peer, igloo (share 1).
    let ks = generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let relay = LoopRelay::start().await;
    let ig = igloo(&ks.group, &ks.shares[0], &relay.url(), 10_000);
    wait_connected(&ig).await;
    let ig_x = x_only(&ks.shares[0].public_key());
    let js_x = x_only(&ks.shares[1].public_key());

    // A watcher on the relay counts what the JS peer sends to igloo.
    let mut watch = relay_common::Client::connect(&relay.url()).await;
    let filter = Filter::new()
        .kind(Kind::from(20004))
        .author(PublicKey::from_slice(&js_x).expect("pk"))
        .pubkey(PublicKey::from_slice(&ig_x).expect("pk"));
    watch
        .send(ClientMessage::req(SubscriptionId::new("w"), vec![filter]))
        .await;
    match watch.recv().await {
        RelayMessage::EndOfStoredEvents(_) => {}
        other => panic!("expected EOSE, got {other:?}"),
    }

    let mut js = JsPeer::spawn();
    js.start(&ks.group, &ks.shares[1], &relay.url()).await;
    let msgs: [[u8; 32]; 2] = [rand::random(), rand::random()];
    let cmd = json!({ "cmd": "sign_queued",
        "messages": msgs.iter().map(hex::encode).collect::<Vec<_>>() });
    // igloo subscribed before the JS node started, so the first attempt must succeed.
    let v = js.ok(cmd).await;
    let sent = v["signRequests"].as_array().expect("signRequests").clone();
    assert_eq!(
        sent,
        vec![json!(2)],
        "bifrost sent exactly one /sign/req carrying both sighashes: {v}"
    );
    let sigs = v["sigs"].as_array().expect("sigs");
    let group_x = ks.group.pubkey_x_only();
    for (m, s) in msgs.iter().zip(sigs) {
        assert!(verify(&group_x, m, s.as_str().expect("sig")), "{v}");
    }
    assert!(!verify(&group_x, &msgs[1], sigs[0].as_str().expect("sig")));

    // On the relay: one request event from JS to igloo (nothing else was sent to it).
    let mut seen = 0;
    while let Some(m) = watch.try_recv(Duration::from_millis(500)).await {
        if let RelayMessage::Event { .. } = m {
            seen += 1;
        }
    }
    assert_eq!(
        seen, 1,
        "one event from the JS requester to igloo on the relay"
    );

    // igloo counted one partial per sighash.
    let p = peers(&ig).await;
    let entry = p["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|e| e["policy"]["normalizedPubkey"] == json!(hex::encode(js_x)))
        .unwrap_or_else(|| panic!("JS peer listed: {p}"))
        .clone();
    assert_eq!(entry["partialsIssued"], json!(2), "{entry}");
}
