//! Live interop: an igloo daemon (share 1) and a real `@frostr/bifrost` 1.0.7 node (share 2,
//! tests/interop/live-node.mjs) sign for each other through a daemon's built-in relay.
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

mod common;
mod interop_common;

use std::io::Write;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use common::{TestServer, client};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use interop_common::spawn_node_script;
use k256::schnorr::{Signature, VerifyingKey};
use serde_json::{Value, json};

/// Kills the JS node if the test fails half-way.
struct JsNode(Child);
impl Drop for JsNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn verify(group_xonly: &[u8; 32], msg: &[u8; 32], sig_hex: &str) -> bool {
    let vk = VerifyingKey::from_bytes(group_xonly).expect("group key");
    hex::decode(sig_hex)
        .ok()
        .and_then(|s| Signature::try_from(s.as_slice()).ok())
        .is_some_and(|sig| vk.verify_raw(msg, &sig).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn igloo_and_bifrost_sign_for_each_other() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group_xonly = ks.group.pubkey_x_only();
    let group = encode_group(&ks.group);
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let share1 = encode_share(&ks.shares[0]);
    let igloo = TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &group,
        "--share-cred",
        &share1,
        "--relays",
        &relay_url,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "10000",
    ]);
    // Wait for igloo's relay socket before the JS node starts asking.
    common::wait_node_connected(&igloo.url("/api/status")).await;

    // The JS node (share 2) asks igloo to co-sign `js_msg`.
    let js_msg: [u8; 32] = rand::random();
    let igloo_x = x_only(&ks.shares[0].public_key());
    let (tx, rx) = mpsc::channel::<Value>();
    let (child, mut stdin) = spawn_node_script("live-node.mjs", "@frostr/bifrost", move |v| {
        tx.send(v).is_ok()
    });
    let input = json!({
        "group": group,
        "share": encode_share(&ks.shares[1]).as_str(),
        "relays": [relay_url],
        "peer": hex::encode(igloo_x),
        "message": hex::encode(js_msg),
    });
    writeln!(stdin, "{input}").expect("write input");
    let js = JsNode(child);
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(45))
            .unwrap_or_else(|_| panic!("the JS node printed no {what}"))
    };
    assert_eq!(next("ready line")["ready"], json!(true));
    let signed = next("sign result");
    let entry = signed["signed"]
        .as_array()
        .unwrap_or_else(|| panic!("JS sign failed: {signed}"));
    assert_eq!(entry[0], json!(hex::encode(js_msg)));
    let sig = entry[2].as_str().expect("sig");
    assert!(verify(&group_xonly, &js_msg, sig), "JS-aggregated sig");

    // igloo asks the JS node (the only peer online, seen most recently).
    let msg: [u8; 32] = rand::random();
    let r = client()
        .post(igloo.url("/api/sign"))
        .json(&json!({ "message": hex::encode(msg) }))
        .send()
        .await
        .expect("sign");
    let code = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    assert_eq!(code, 200, "{body}");
    assert!(verify(
        &group_xonly,
        &msg,
        body["signature"].as_str().expect("signature")
    ));
    drop(stdin);
    drop(js);
}
