//! `/api/nip44/*` and `/api/nip04/*`: an igloo daemon (share 1) and an in-process node
//! (share 2) of a 2-of-3 group over a relay on 127.0.0.1. What igloo encrypts, the `nostr`
//! crate decrypts with the other party's secret key, and the reverse.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use igloo::node;
use nostr::prelude::{Keys, PublicKey, SecretKey};
use serde_json::{Value, json};

fn keys() -> Keys {
    let b: [u8; 32] = rand::random();
    Keys::new(SecretKey::from_slice(&b).expect("sk"))
}

async fn post(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let (code, v, _) = common::call(
        server,
        reqwest::Method::POST,
        path,
        None,
        Some(body.clone()),
    )
    .await;
    (code, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_and_no_node() {
    let server = TestServer::start(&[]);
    let peer = keys().public_key().to_hex();
    for path in [
        "/api/nip44/encrypt",
        "/api/nip44/decrypt",
        "/api/nip04/encrypt",
        "/api/nip04/decrypt",
    ] {
        let (s, b) = post(&server, path, &json!({"peer_pubkey": peer, "content": "x"})).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (503, Some("NODE_UNAVAILABLE")),
            "{path}: {b}"
        );
        let (s, b) = post(
            &server,
            path,
            &json!({"peer_pubkey": "abcd", "content": "x"}),
        )
        .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{path}: {b}"
        );
        let (s, b) = post(&server, path, &json!({"content": "x"})).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("INVALID_JSON")),
            "{path}: {b}"
        );
        let big = "a".repeat(70 * 1024);
        let (s, b) = post(&server, path, &json!({"peer_pubkey": peer, "content": big})).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (413, Some("REQUEST_TOO_LARGE")),
            "{path}: {b}"
        );
    }
    let (s, _) = post(
        &server,
        "/api/nip44/encrypt",
        &json!({"peer_pubkey": peer, "content": ""}),
    )
    .await;
    assert_eq!(s, 400, "NIP-44 refuses an empty message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_encryption_interoperates_with_nostr_keys() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group_pk = PublicKey::from_slice(&ks.group.pubkey_x_only()).expect("group pk");
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let share1 = encode_share(&ks.shares[0]);
    let igloo = TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &encode_group(&ks.group),
        "--share-cred",
        &share1,
        "--relays",
        &relay_url,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "5000",
    ]);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let igloo_x = x_only(&ks.shares[0].public_key());
    let b = node::start_with(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![relay_url],
        Duration::from_secs(5),
        stop_rx,
    )
    .expect("node b");
    // Both subscribed once B's ping to igloo is answered.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.ping(&igloo_x, Duration::from_millis(500)).await.is_err() {
        assert!(Instant::now() < deadline, "igloo never answered a ping");
    }

    let peer = keys();
    let peer_hex = peer.public_key().to_hex();
    let text = "threshold hello ✓";

    // NIP-44: igloo → peer, peer → igloo.
    let (s, body) = post(
        &igloo,
        "/api/nip44/encrypt",
        &json!({"peer_pubkey": peer_hex, "content": text}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let ct = body["result"].as_str().expect("result");
    assert_eq!(
        nostr::nips::nip44::decrypt(peer.secret_key(), &group_pk, ct).expect("peer decrypts"),
        text
    );
    let from_peer = nostr::nips::nip44::encrypt_to_bytes_with_nonce(
        peer.secret_key(),
        &group_pk,
        text,
        nostr::nips::nip44::Nonce::V2(rand::random()),
    )
    .expect("peer encrypts");
    let from_peer = base64_encode(&from_peer);
    // The 02-compressed form names the same peer.
    let (s, body) = post(
        &igloo,
        "/api/nip44/decrypt",
        &json!({"peer_pubkey": format!("02{peer_hex}"), "content": from_peer}),
    )
    .await;
    assert_eq!((s, body["result"].as_str()), (200, Some(text)), "{body}");

    // NIP-04 both ways.
    let (s, body) = post(
        &igloo,
        "/api/nip04/encrypt",
        &json!({"peer_pubkey": peer_hex, "content": text}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let ct = body["result"].as_str().expect("result");
    assert!(ct.contains("?iv="));
    assert_eq!(
        nostr::nips::nip04::decrypt(peer.secret_key(), &group_pk, ct).expect("peer decrypts"),
        text
    );
    let from_peer =
        nostr::nips::nip04::encrypt_with_iv(peer.secret_key(), &group_pk, text, rand::random())
            .expect("peer encrypts");
    let (s, body) = post(
        &igloo,
        "/api/nip04/decrypt",
        &json!({"peer_pubkey": peer_hex, "content": from_peer}),
    )
    .await;
    assert_eq!((s, body["result"].as_str()), (200, Some(text)), "{body}");

    // A payload for someone else fails with a clear crypto error.
    let other = keys();
    let foreign = nostr::nips::nip44::encrypt_to_bytes_with_nonce(
        other.secret_key(),
        &peer.public_key(),
        text,
        nostr::nips::nip44::Nonce::V2(rand::random()),
    )
    .expect("encrypt");
    let (s, body) = post(
        &igloo,
        "/api/nip44/decrypt",
        &json!({"peer_pubkey": peer_hex, "content": base64_encode(&foreign)}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (500, Some("CRYPTO_ERROR")),
        "{body}"
    );
    assert_eq!(body["error"], json!("invalid MAC"));

    // Peer B gone: a new peer key needs a fresh ECDH round, which times out cleanly.
    drop(_stop);
    let started = Instant::now();
    let (s, body) = post(
        &igloo,
        "/api/nip44/encrypt",
        &json!({"peer_pubkey": keys().public_key().to_hex(), "content": "x"}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (504, Some("ECDH_TIMEOUT")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
