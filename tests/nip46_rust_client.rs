//! NIP-46 with a second real client: rust-nostr's `nostr-connect` 0.44 (its `NostrConnect`
//! signer, own relay pool and NIP-44 v2) against an igloo daemon holding share 1 of a 2-of-2
//! keyset, the other member a second igloo daemon, all on a third daemon's built-in relay on
//! 127.0.0.1. Both pairing flows (bunker:// with igloo's single-use secret; nostrconnect:// of
//! the older revision that rust-nostr 0.44 speaks: no secret, "ack"), sign_event checked
//! against the group key, NIP-44 both ways against rust-nostr's own cipher, and a denied
//! request.
//!
//! (nostr-connect 0.45 cannot be used: every nostr-sdk 0.45.x it needs is yanked; 0.44.1
//! brings its own nostr 0.44 and tokio-tungstenite 0.26, test-only.)

mod common;
mod interop_common;
mod nip46_common;

use std::time::{Duration, Instant};

use nip46_common::{api, decide_ok, pending_for, setup, start_signer, verify_group_sig};
use nostr_connect::prelude as nc;
use nostr_connect::prelude::NostrSigner;
use reqwest::Method;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A signed event from the client: its own check (id and signature), then ours with k256.
fn check_event(ev: &nc::Event, group: &str, content: &str) {
    ev.verify().expect("rust-nostr verifies the event");
    assert_eq!(ev.pubkey.to_hex(), group);
    assert_eq!(ev.content, content);
    verify_group_sig(group, ev.id.as_bytes(), &ev.sig.to_string());
}

fn note(group: nc::PublicKey, content: &str) -> nc::UnsignedEvent {
    nc::EventBuilder::text_note(content).build(group)
}

/// Grants signing (kind 1) and NIP-44 to a session.
async fn grant(igloo: &common::TestServer, client: &str) {
    api(
        igloo,
        Method::PUT,
        &format!("/api/nip46/sessions/{client}/policy"),
        Some(
            json!({"methods": {"sign_event": true, "nip44_encrypt": true,
            "nip44_decrypt": true}, "kinds": {"1": true}}),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_nostr_connect_pairs_both_ways_signs_encrypts_and_is_denied() {
    let s = setup();
    let group = hex::encode(s.ks.group.pubkey_x_only());
    let igloo = start_signer(&s);
    common::wait_node_connected(&igloo.url("/api/status")).await;
    common::wait_node_connected(&s.peer.url("/api/status")).await;

    // ---- bunker:// from igloo ----
    let uri = api(&igloo, Method::POST, "/api/nip46/bunker", None).await["uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    nip46_common::wait_transport_connected(&igloo).await;
    let keys = nc::Keys::generate();
    let client = keys.public_key().to_hex();
    let app = nc::NostrConnect::new(
        nc::NostrConnectURI::parse(&uri).expect("rust-nostr reads igloo's bunker URI"),
        keys,
        TIMEOUT,
        None,
    )
    .expect("client");
    // The first request runs `connect` with the secret; get_public_key needs no approval.
    let group_pk = app.get_public_key().await.expect("get_public_key");
    assert_eq!(group_pk.to_hex(), group);

    // Not granted yet: the signature waits; the owner denies and the client gets the error.
    let pending = tokio::spawn({
        let app = app.clone();
        async move { app.sign_event(note(group_pk, "deny me")).await }
    });
    let p = pending_for(&igloo, &client).await;
    assert_eq!(p["kind"], json!(1));
    decide_ok(&igloo, &p["id"], "deny").await;
    let e = pending
        .await
        .expect("task")
        .expect_err("a denied request fails");
    assert!(e.to_string().contains("denied"), "{e}");

    // Granted: signed by the group (2-of-2) at once.
    grant(&igloo, &client).await;
    let ev = app
        .sign_event(note(group_pk, "from rust-nostr"))
        .await
        .expect("sign_event");
    check_event(&ev, &group, "from rust-nostr");

    // NIP-44 v2 both ways, checked with rust-nostr's own cipher as the third party.
    let third = nc::Keys::generate();
    let c = app
        .nip44_encrypt(&third.public_key(), "nip44 from igloo")
        .await
        .expect("nip44_encrypt");
    assert_eq!(
        nc::nip44::decrypt(third.secret_key(), &group_pk, &c).expect("decrypt"),
        "nip44 from igloo"
    );
    let c = nc::nip44::encrypt(
        third.secret_key(),
        &group_pk,
        "nip44 to igloo",
        nc::nip44::Version::V2,
    )
    .expect("encrypt");
    assert_eq!(
        app.nip44_decrypt(&third.public_key(), &c)
            .await
            .expect("nip44_decrypt"),
        "nip44 to igloo"
    );
    app.shutdown().await;

    // ---- nostrconnect:// from the app, pasted into igloo ----
    let keys = nc::Keys::generate();
    let client = keys.public_key().to_hex();
    let relay = nc::RelayUrl::parse(&s.relay_url).expect("relay url");
    let nc_uri = nc::NostrConnectURI::client(keys.public_key(), [relay], "rust-nostr app");
    let app = nc::NostrConnect::new(nc_uri.clone(), keys, TIMEOUT, None).expect("client");
    // The app subscribes and waits for igloo's connect answer (as one showing a QR code).
    let first = tokio::spawn({
        let app = app.clone();
        async move { app.get_public_key().await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app
        .status()
        .await
        .values()
        // nostr-connect does not re-export the status type; its Display names the state.
        .any(|s| s.to_string() == "Connected")
    {
        assert!(Instant::now() < deadline, "the app never reached the relay");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = api(
        &igloo,
        Method::POST,
        "/api/nip46/connect",
        Some(json!({"uri": nc_uri.to_string()})),
    )
    .await;
    assert_eq!(c["session"]["pubkey"], json!(client));
    assert_eq!(c["session"]["profile"]["name"], json!("rust-nostr app"));
    let pk = first
        .await
        .expect("task")
        .expect("connected, then get_public_key");
    assert_eq!(pk.to_hex(), group);
    grant(&igloo, &client).await;
    let ev = app
        .sign_event(note(pk, "from nostrconnect"))
        .await
        .expect("sign_event");
    check_event(&ev, &group, "from nostrconnect");
    app.shutdown().await;
}
