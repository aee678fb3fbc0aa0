//! Two in-process igloo daemons holding shares 1 and 2 of a 2-of-3 keyset talk through a third
//! daemon's built-in relay: threshold signing over the API, ping, and the responder's refusal
//! of multi-sighash sessions (spec §11.1), driven by a raw client holding share 3.

mod common;
mod relay_common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{TestServer, client};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::session::{SessionTemplate, SigVector, create_session};
use igloo::frostr::sign::SigningSession;
use igloo::frostr::transport::envelope::MessageId;
use igloo::frostr::transport::event::{Event as WireEvent, event_id, open, seal};
use igloo::frostr::transport::payload::Payload;
use igloo::frostr::types::x_only;
use k256::schnorr::{Signature, VerifyingKey};
use nostr::prelude::{ClientMessage, Event, Filter, Kind, PublicKey, RelayMessage, SubscriptionId};
use relay_common::Client;
use serde_json::{Value, json};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn start_signer(ks: &Keyset, share: usize, relay: &str) -> TestServer {
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
        "--frostr-sign-timeout",
        "10000",
    ])
}

async fn status(srv: &TestServer) -> Value {
    client()
        .get(srv.url("/api/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

async fn wait_connected(srv: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(srv).await;
        if s["nodeActive"] == json!(true) && s["health"]["isConnected"] == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "node never connected: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(srv: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let (code, v, _) = common::call(srv, reqwest::Method::POST, path, None, Some(body)).await;
    (code, v)
}

/// Ping until the peer answers: both nodes' subscriptions are then live on the relay.
async fn ping_until_online(srv: &TestServer, target: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = post(srv, "/api/peers/ping", json!({ "target": target })).await;
        assert_eq!(code, 200, "{body}");
        if body["success"] == json!(true) {
            return body;
        }
        assert!(Instant::now() < deadline, "peer never answered: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn verify(group_xonly: &[u8; 32], msg: &[u8; 32], sig_hex: &str) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    let vk = VerifyingKey::from_bytes(group_xonly).expect("group key");
    let Ok(sig) = Signature::try_from(sig.as_slice()) else {
        return false;
    };
    vk.verify_raw(msg, &sig).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_sign_ping_and_refuse_multi_sighash_sessions() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group_xonly = ks.group.pubkey_x_only();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let a = start_signer(&ks, 0, &relay_url);
    let b = start_signer(&ks, 1, &relay_url);
    wait_connected(&a).await;
    wait_connected(&b).await;

    // Ping: B is seen online by A.
    let b_xonly = x_only(&ks.shares[1].public_key());
    let pong = ping_until_online(&a, &hex::encode(b_xonly)).await;
    assert_eq!(pong["status"]["online"], json!(true));
    assert!(pong["latency"].is_u64());
    let peers: Value = client()
        .get(a.url("/api/peers"))
        .send()
        .await
        .expect("peers")
        .json()
        .await
        .expect("json");
    assert_eq!(peers["total"], json!(2));
    let b_view = peers["peers"]
        .as_array()
        .expect("peers array")
        .iter()
        .find(|p| {
            p["pubkey"]
                .as_str()
                .is_some_and(|k| k.ends_with(&hex::encode(b_xonly)))
        })
        .expect("B listed");
    assert_eq!(b_view["online"], json!(true));

    // Sign a raw message on A: the signature verifies under the group key.
    let msg: [u8; 32] = rand::random();
    let (code, body) = post(&a, "/api/sign", json!({ "message": hex::encode(msg) })).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["id"], json!(hex::encode(msg)));
    let sig = body["signature"].as_str().expect("signature");
    assert!(verify(&group_xonly, &msg, sig));
    assert!(!verify(&group_xonly, &[0u8; 32], sig), "check can fail");

    // Sign an event on B: the id is the NIP-01 id.
    let tags = vec![vec!["t".to_owned(), "igloo".to_owned()]];
    let created_at = now();
    let (code, body) = post(
        &b,
        "/api/sign",
        json!({ "event": { "pubkey": hex::encode(group_xonly), "kind": 1,
            "created_at": created_at, "content": "hello", "tags": tags } }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let id = event_id(&hex::encode(group_xonly), created_at, 1, &tags, "hello");
    assert_eq!(body["id"], json!(hex::encode(id)));
    assert!(verify(
        &group_xonly,
        &id,
        body["signature"].as_str().expect("sig")
    ));

    // Bad input is a 400 with a code.
    let (code, body) = post(&a, "/api/sign", json!({ "message": "xyz" })).await;
    assert_eq!((code, body["code"].clone()), (400, json!("BAD_REQUEST")));

    // A raw requester with share 3 asks B directly.
    let me = &ks.shares[2];
    let me_x = x_only(&me.public_key());
    let mut ws = Client::connect(&relay_url).await;
    let filter = Filter::new()
        .kind(Kind::from(20004))
        .pubkey(PublicKey::from_slice(&me_x).expect("pk"));
    ws.send(ClientMessage::req(SubscriptionId::new("me"), vec![filter]))
        .await;
    match ws.recv().await {
        RelayMessage::EndOfStoredEvents(_) => {}
        other => panic!("expected EOSE, got {other:?}"),
    }
    let ask = |hashes: Vec<[u8; 32]>| {
        let pkg = create_session(
            &ks.group,
            SessionTemplate::new(
                hashes.into_iter().map(SigVector::new).collect(),
                vec![3, 2],
                u32::try_from(now()).expect("stamp"),
            ),
        )
        .expect("session");
        let id = MessageId(rand::random());
        let env = Payload::SignReq(pkg.clone()).to_envelope(id);
        let ev = seal(
            &me.seckey,
            &b_xonly,
            &env,
            &rand::random(),
            &rand::random(),
            now(),
        )
        .expect("seal");
        (
            pkg,
            id,
            Event::from_json(ev.to_json()).expect("nostr event"),
        )
    };

    // Control: a one-sighash session is answered with a valid partial.
    let (pkg, id, ev) = ask(vec![rand::random()]);
    ws.send(ClientMessage::event(ev)).await;
    let reply = loop {
        match ws.recv().await {
            RelayMessage::Event { event, .. } => break event.into_owned(),
            RelayMessage::Ok { status, .. } => assert!(status),
            other => panic!("unexpected {other:?}"),
        }
    };
    let wire = WireEvent::from_json(&reply.as_json()).expect("wire event");
    let env = open(&me.seckey, &wire).expect("open reply");
    assert_eq!(env.id, id);
    let Payload::SignRes(psig) = Payload::parse(&env).expect("payload") else {
        panic!("expected /sign/res, got {}", env.tag);
    };
    let session = SigningSession::new(&ks.group, pkg).expect("session");
    session
        .verify_response(&psig)
        .expect("B's partial verifies");

    // Two sighashes in one session (bifrost 1.0.7's sign queue batches like this): B answers
    // with a valid partial for each, and counts both.
    let (pkg, id, ev) = ask(vec![rand::random(), rand::random()]);
    ws.send(ClientMessage::event(ev)).await;
    let reply = loop {
        match ws.recv().await {
            RelayMessage::Event { event, .. } => break event.into_owned(),
            RelayMessage::Ok { status, .. } => assert!(status),
            other => panic!("unexpected {other:?}"),
        }
    };
    let wire = WireEvent::from_json(&reply.as_json()).expect("wire event");
    let env = open(&me.seckey, &wire).expect("open reply");
    assert_eq!(env.id, id);
    let Payload::SignRes(psig) = Payload::parse(&env).expect("payload") else {
        panic!("expected /sign/res, got {}", env.tag);
    };
    let session = SigningSession::new(&ks.group, pkg).expect("session");
    assert_eq!(
        session
            .verify_response(&psig)
            .expect("both partials verify")
            .len(),
        2
    );
    let (_, peers) = get_peers(&b).await;
    let c_view = peers["peers"]
        .as_array()
        .expect("peers array")
        .iter()
        .find(|p| p["policy"]["normalizedPubkey"] == json!(hex::encode(me_x)))
        .expect("C listed")
        .clone();
    assert_eq!(
        c_view["partialsIssued"],
        json!(3),
        "1 + 2 sighashes counted"
    );

    // Three sighashes in one session would reveal the share: B stays silent.
    let (_, _, ev) = ask(vec![rand::random(), rand::random(), rand::random()]);
    ws.send(ClientMessage::event(ev)).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while let Some(m) = ws
        .try_recv(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        match m {
            RelayMessage::Ok { status, .. } => assert!(status),
            other => panic!("a three-sighash session was answered: {other:?}"),
        }
    }
}

async fn get_peers(srv: &TestServer) -> (u16, Value) {
    let r = client()
        .get(srv.url("/api/peers"))
        .send()
        .await
        .expect("peers");
    let code = r.status().as_u16();
    (code, r.json().await.expect("json"))
}

#[tokio::test]
async fn without_credentials_the_node_is_unavailable() {
    let srv = TestServer::start(&["--headless", "true"]);
    let s = status(&srv).await;
    assert_eq!(s["nodeActive"], json!(false));
    assert_eq!(s["health"]["isConnected"], json!(false));
    let (code, body) = post(&srv, "/api/sign", json!({ "message": "00".repeat(32) })).await;
    assert_eq!(
        (code, body["code"].clone()),
        (503, json!("NODE_UNAVAILABLE"))
    );
    let (code, _) = post(&srv, "/api/peers/ping", json!({ "target": "all" })).await;
    assert_eq!(code, 503);
    let r = client()
        .get(srv.url("/api/peers"))
        .send()
        .await
        .expect("peers");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn a_share_of_another_group_leaves_the_node_off_but_the_server_up() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let other = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group);
    let share = encode_share(&other.shares[0]);
    let srv = TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &group,
        "--share-cred",
        &share,
        "--relays",
        "ws://127.0.0.1:9",
    ]);
    let s = status(&srv).await;
    assert_eq!(s["serverRunning"], json!(true));
    assert_eq!(s["hasCredentials"], json!(true));
    assert_eq!(s["nodeActive"], json!(false));
    let (code, body) = post(&srv, "/api/sign", json!({ "message": "00".repeat(32) })).await;
    assert_eq!(
        (code, body["code"].clone()),
        (503, json!("NODE_UNAVAILABLE"))
    );
}
