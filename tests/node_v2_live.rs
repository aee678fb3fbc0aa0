//! V2 (bifrost-rs protocol) nodes started in-process with `node::v2::start`, talking through
//! the relay of a TestServer on 127.0.0.1: 2-of-3 signing and ECDH both directions, ping,
//! nonce exhaustion and recovery, replayed sign requests, and restart after an unclean stop.

mod common;
mod relay_common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;
use igloo::frostr::SecretScalar;
use igloo::frostr_v2::envelope::{ERROR_NONCE_UNAVAILABLE, Envelope, Payload};
use igloo::frostr_v2::event::{Event as WireEvent, open, seal};
use igloo::frostr_v2::keyset::{Keyset, split};
use igloo::node::NodeError;
use igloo::node::v2::{self, V2Error, V2Handle, V2Options};
use igloo::store::Store;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::schnorr::{Signature, VerifyingKey};
use nostr::prelude::{ClientMessage, Event, Filter, Kind, PublicKey, RelayMessage, SubscriptionId};
use relay_common::Client;
use tokio::sync::watch;

const TIMEOUT: Duration = Duration::from_secs(10);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A 2-of-3 keyset of a known secret, so ECDH can be checked against `secret·P`.
fn keyset() -> (SecretScalar, Keyset) {
    let secret = loop {
        let b: [u8; 32] = rand::random();
        if let Some(s) = SecretScalar::from_bytes(&b) {
            break s;
        }
    };
    let ks = split("live", &secret, 2, 3, &mut rand::thread_rng()).expect("split");
    (secret, ks)
}

fn options(store: Option<Store>) -> V2Options {
    let mut o = V2Options::new(TIMEOUT);
    o.ping_interval = None;
    o.store = store;
    o
}

fn node(
    ks: &Keyset,
    i: usize,
    relay: &str,
    store: Option<Store>,
) -> (V2Handle, watch::Sender<bool>) {
    node_on(ks, i, vec![relay.to_owned()], store)
}

fn node_on(
    ks: &Keyset,
    i: usize,
    relays: Vec<String>,
    store: Option<Store>,
) -> (V2Handle, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    let h = v2::start(
        ks.group.clone(),
        ks.shares[i].clone(),
        relays,
        options(store),
        rx,
    )
    .expect("V2 node starts");
    (h, tx)
}

/// Ping until the peer answers (both subscriptions are then live on the relay).
async fn ping_until_ok(from: &V2Handle, to: &V2Handle) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match from.ping(&to.self_xonly(), Duration::from_secs(2)).await {
            Ok(_) => return,
            Err(e) => assert!(Instant::now() < deadline, "peer never answered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verify(group: &[u8; 32], msg: &[u8; 32], sig: &[u8; 64]) -> bool {
    let vk = VerifyingKey::from_bytes(group).expect("group key");
    let sig = Signature::try_from(&sig[..]).expect("sig bytes");
    vk.verify_raw(msg, &sig).is_ok()
}

fn relay_url(relay: &TestServer) -> String {
    format!("ws://{}", relay.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_v2_nodes_sign_ecdh_and_ping_both_directions() {
    let (secret, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let (a, _sa) = node(&ks, 0, &url, None);
    let (b, _sb) = node(&ks, 1, &url, None);
    assert_eq!(a.group_xonly(), ks.group.group_pk);
    assert_eq!(a.self_xonly(), ks.shares[0].peer_id());

    ping_until_ok(&a, &b).await;
    ping_until_ok(&b, &a).await;
    let pong = a.ping(&b.self_xonly(), TIMEOUT).await.expect("ping");
    assert!(
        pong.policy.recv && pong.policy.send,
        "default policy: both ways"
    );
    for s in a.nonce_status() {
        if s.peer == b.self_xonly() {
            assert!(s.sign_ready, "A holds B's nonces after a ping: {s:?}");
        }
    }

    let group = ks.group.group_pk;
    for (signer, name) in [(&a, "A"), (&b, "B"), (&a, "A again")] {
        let msg: [u8; 32] = rand::random();
        let sig = signer
            .sign(msg)
            .await
            .unwrap_or_else(|e| panic!("{name} signs: {e}"));
        assert!(verify(&group, &msg, &sig), "{name}'s signature verifies");
        let other: [u8; 32] = rand::random();
        assert!(!verify(&group, &other, &sig), "check can fail");
    }

    // ECDH: both directions agree with each other and with secret·P.
    let target = k256::SecretKey::random(&mut rand::thread_rng()).public_key();
    let direct = (target.to_projective() * secret.scalar()).to_affine().x();
    let xa = a.ecdh(&target).await.expect("A ECDH");
    let xb = b.ecdh(&target).await.expect("B ECDH");
    assert_eq!(xa.as_affine().x(), direct);
    assert_eq!(xb.as_affine().x(), direct);

    // Peers view: B is seen online by A with a latency.
    let peers = a.peers();
    assert_eq!(peers.len(), 2);
    let pb = peers
        .iter()
        .find(|p| p.xonly == b.self_xonly())
        .expect("B listed");
    assert!(pb.last_seen.is_some() && pb.latency_ms.is_some());
    assert!(
        pb.partials_issued >= 1,
        "A gave B a partial for B's request"
    );
    assert!(a.is_running() && a.is_connected());
    assert_eq!(a.relay_states().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_nonces_give_a_clean_error_and_recover_after_a_ping() {
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let (a, _sa) = node(&ks, 0, &url, None);
    let (b, _sb) = node(&ks, 1, &url, None);

    // Before any ping nobody is sign-ready.
    match a.sign([1; 32]).await {
        Err(NodeError::V2(V2Error::NoncesExhausted { need: 1, have: 0 })) => {}
        other => panic!("expected exhaustion, got {other:?}"),
    }
    ping_until_ok(&a, &b).await;
    a.sign([2; 32]).await.expect("signs after a ping");

    assert!(a.discard_nonces(&b.self_xonly()));
    let err = a.sign([3; 32]).await.expect_err("no nonces left");
    assert!(
        matches!(err, NodeError::V2(V2Error::NoncesExhausted { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("next ping"),
        "says what to do: {err}"
    );
    a.ping(&b.self_xonly(), TIMEOUT).await.expect("ping");
    let msg: [u8; 32] = rand::random();
    let sig = a.sign(msg).await.expect("signs again after the ping");
    assert!(verify(&ks.group.group_pk, &msg, &sig));
}

/// Subscribe a raw client to every kind-20000 event addressed to `to`.
async fn listen(url: &str, to: &[u8; 32]) -> Client {
    let mut ws = Client::connect(url).await;
    let filter = Filter::new()
        .kind(Kind::from(20000))
        .pubkey(PublicKey::from_slice(to).expect("pk"));
    ws.send(ClientMessage::req(SubscriptionId::new("spy"), vec![filter]))
        .await;
    match ws.recv().await {
        RelayMessage::EndOfStoredEvents(_) => {}
        other => panic!("expected EOSE, got {other:?}"),
    }
    ws
}

fn wire(ev: &Event) -> WireEvent {
    WireEvent::from_json(&ev.as_json()).expect("wire event")
}

fn nostr_event(ev: &WireEvent) -> Event {
    Event::from_json(ev.to_json()).expect("nostr event")
}

/// Every envelope arriving on `ws` within `wait`, opened with `key` (the recipient).
async fn drain(ws: &mut Client, key: &SecretScalar, wait: Duration) -> Vec<(Event, Envelope)> {
    let mut out = Vec::new();
    while let Some(m) = ws.try_recv(wait).await {
        if let RelayMessage::Event { event, .. } = m {
            let ev = event.into_owned();
            let w = wire(&ev);
            let author = w.author().expect("author");
            if let Ok(env) = open(key, &author, &w) {
                out.push((ev, env));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_sign_request_gets_no_second_partial() {
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(&tmp.path().join("b.redb")).expect("store");
    // B also listens on a second relay, which A does not use: the replayed copy of A's event
    // goes there, where it is new (the first relay would drop it as a duplicate id).
    let relay2 = TestServer::start(&[]);
    let url2 = relay_url(&relay2);
    let (a, _sa) = node(&ks, 0, &url, None);
    let (b, _sb) = node_on(&ks, 1, vec![url.clone(), url2.clone()], Some(store.clone()));
    ping_until_ok(&a, &b).await;
    for _ in 0..200 {
        if b.relay_states().iter().all(|s| s.connected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(b.relay_states().iter().all(|s| s.connected));
    let delivered_by_relay2 = async || -> u64 {
        let s: serde_json::Value = reqwest::get(format!("http://{}/api/status", relay2.addr))
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        s["relay"]["events_out"].as_u64().expect("events_out")
    };

    let mut to_b = listen(&url, &b.self_xonly()).await;
    let mut to_a = listen(&url, &a.self_xonly()).await;
    let msg: [u8; 32] = rand::random();
    a.sign(msg).await.expect("first signature");

    let requests = drain(&mut to_b, &ks.shares[1].secret, Duration::from_millis(500)).await;
    let (req_event, req_env) = requests
        .into_iter()
        .find(|(_, e)| matches!(e.payload, Payload::SignRequest(_)))
        .expect("A's sign request seen on the relay");
    let Payload::SignRequest(session) = &req_env.payload else {
        unreachable!()
    };
    let b_code = session
        .nonces
        .iter()
        .find(|m| m.idx == ks.shares[1].idx)
        .and_then(|m| m.entries.first())
        .expect("B's nonce entry")
        .code;
    assert!(
        store
            .v2_is_spent(&b.group_id(), &b_code)
            .expect("read spent"),
        "B recorded its nonce code as spent"
    );
    let responses = drain(&mut to_a, &ks.shares[0].secret, Duration::from_millis(300)).await;
    let first = responses
        .iter()
        .filter(|(_, e)| matches!(e.payload, Payload::SignResponse(_)))
        .count();
    assert_eq!(first, 1, "one partial for the genuine request");

    let a_secret = &ks.shares[0].secret;
    let b_id = b.self_xonly();
    let mut spy = Client::connect(&url).await;
    // 1. The same event again, through the second relay: it accepts the event (new there)
    // and delivers it to B, its only subscriber; 2. the same envelope in a new event (replay
    // cache), 3. a new request id and fresh time around the same session (spent nonce codes).
    let before = delivered_by_relay2().await;
    let mut spy2 = Client::connect(&url2).await;
    let (accepted, why) = spy2.publish(&req_event).await;
    assert!(accepted, "the second relay takes the replayed event: {why}");
    let mut reached_b = false;
    for _ in 0..100 {
        if delivered_by_relay2().await > before {
            reached_b = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reached_b, "the replayed event was delivered to B");
    let resealed = seal(
        a_secret,
        &b_id,
        &req_env,
        rand::random(),
        &rand::random(),
        now(),
    )
    .expect("reseal");
    spy.publish(&nostr_event(&resealed)).await;
    let renamed = Envelope::new(rand::random(), now(), req_env.payload.clone());
    let fresh = seal(
        a_secret,
        &b_id,
        &renamed,
        rand::random(),
        &rand::random(),
        now(),
    )
    .expect("seal");
    spy.publish(&nostr_event(&fresh)).await;
    // Control: a genuine ping published the same way is answered, so the events above did
    // reach B and were refused.
    let ping = Envelope::new(
        rand::random(),
        now(),
        Payload::PingRequest(igloo::frostr_v2::envelope::Ping {
            version: 2,
            advertised_nonces: vec![],
            held_peer_nonce_codes: vec![],
            policy_profile: None,
        }),
    );
    let ping = seal(
        a_secret,
        &b_id,
        &ping,
        rand::random(),
        &rand::random(),
        now(),
    )
    .expect("seal");
    spy.publish(&nostr_event(&ping)).await;

    let later = drain(&mut to_a, a_secret, Duration::from_millis(1500)).await;
    let count = |f: fn(&Payload) -> bool| later.iter().filter(|(_, e)| f(&e.payload)).count();
    assert_eq!(
        count(|p| matches!(p, Payload::PingResponse(_))),
        1,
        "the control ping is answered"
    );
    assert_eq!(
        count(|p| matches!(p, Payload::SignResponse(_))),
        0,
        "no second partial for a replayed request"
    );

    let a_id = a.self_xonly();
    let counts = |s: &Store| s.load_partial_counts(&b.group_id()).expect("counts");
    assert_eq!(counts(&store).get(&a_id), Some(&1), "one partial audited");
    // B still answers a genuine new request.
    a.sign(rand::random()).await.expect("B still signs");
    assert_eq!(counts(&store).get(&a_id), Some(&2), "audited durably");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_policy_refuses_a_peer_with_peer_denied() {
    use igloo::store::policies::StoredPolicy;
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(&tmp.path().join("b.redb")).expect("store");
    let gid = igloo::frostr_v2::ids::group_id(&ks.group);
    let a_id = ks.shares[0].peer_id();
    // B answers nobody's sign/ECDH from A (allow_send true, allow_receive false).
    store
        .put_peer_policy(
            &gid,
            &a_id,
            &StoredPolicy::new(true, false, None, None, None, now()),
        )
        .expect("policy");
    let (a, _sa) = node(&ks, 0, &url, None);
    let (b, _sb) = node(&ks, 1, &url, Some(store));
    let seen = b
        .peers()
        .into_iter()
        .find(|p| p.xonly == a_id)
        .expect("A listed");
    assert!(seen.policy.send && !seen.policy.recv);

    // A learns B's policy from the ping and does not ask it.
    ping_until_ok(&a, &b).await;
    let pb = a
        .peers()
        .into_iter()
        .find(|p| p.xonly == b.self_xonly())
        .expect("B listed");
    assert_eq!(pb.remote_policy.map(|r| r.recv), Some(false));
    // B is sign-ready for A after the ping but excluded by its policy; C never answered.
    assert!(
        a.nonce_status()
            .iter()
            .any(|s| s.peer == b.self_xonly() && s.sign_ready)
    );
    match a.sign([5; 32]).await {
        Err(NodeError::V2(V2Error::NoncesExhausted { need: 1, have: 0 })) => {}
        other => panic!("expected no peer to ask, got {other:?}"),
    }

    // A request sent anyway is refused with peer_denied.
    let mut to_a = listen(&url, &a_id).await;
    let session = igloo::frostr_v2::envelope::SignSession {
        gid,
        sid: [0; 32],
        members: vec![1, 2],
        hashes: vec![[5; 32]],
        content: None,
        kind: "message".into(),
        stamp: 0,
        nonces: vec![],
    };
    let env = Envelope::new(rand::random(), now(), Payload::SignRequest(session));
    let ev = seal(
        &ks.shares[0].secret,
        &b.self_xonly(),
        &env,
        rand::random(),
        &rand::random(),
        now(),
    )
    .expect("seal");
    Client::connect(&url).await.publish(&nostr_event(&ev)).await;
    let got = drain(&mut to_a, &ks.shares[0].secret, Duration::from_millis(1500)).await;
    let refusal = got
        .iter()
        .find_map(|(_, e)| match &e.payload {
            Payload::Error(d) if e.request_id == env.request_id => Some(d.clone()),
            _ => None,
        })
        .expect("an Error reply");
    assert_eq!(refusal.code, "peer_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unclean_stop_pools_are_discarded_and_signing_resumes_after_a_ping() {
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(&tmp.path().join("a.redb")).expect("store");
    // B's rounds time out quickly, should one meet stale nonces below.
    let (_sb, rx) = watch::channel(false);
    let mut ob = options(None);
    ob.timeout = Duration::from_secs(3);
    let b = v2::start(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![url.clone()],
        ob,
        rx,
    )
    .expect("B starts");

    // A runs on its own runtime, which is then torn down without a clean stop (as a crash
    // would end it): the run marker stays.
    let crash_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (a, stop_a) = {
        let _g = crash_rt.enter();
        node(&ks, 0, &url, Some(store.clone()))
    };
    assert!(!a.started_after_unclean_stop());
    let gid = a.group_id();
    ping_until_ok(&a, &b).await;
    a.sign(rand::random())
        .await
        .expect("signs before the crash");
    drop(a);
    crash_rt.shutdown_background();
    drop(stop_a);
    assert!(
        store.v2_run_marker(&gid).expect("marker"),
        "marker left behind"
    );

    let (a, stop_a) = node(&ks, 0, &url, Some(store.clone()));
    assert!(a.started_after_unclean_stop(), "unclean stop detected");
    assert!(
        a.nonce_status()
            .iter()
            .all(|s| s.incoming == 0 && s.outgoing == 0),
        "pools discarded: {:?}",
        a.nonce_status()
    );
    // B still holds nonces A gave it before the crash, and A has not pinged it yet: A
    // refuses them at once with `nonce_unavailable` (not by silence, which would cost B its
    // whole timeout per stale code: bifrost-rs 0.5.0 peers never drop them), and B drops
    // every nonce it holds from A.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.is_connected() {
        assert!(Instant::now() < deadline, "restarted A never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Connected is the socket; give the relay a moment to register A's subscription.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    match b.sign(rand::random()).await {
        Err(NodeError::V2(V2Error::Rejected { code, peer, .. })) => {
            assert_eq!(code, ERROR_NONCE_UNAVAILABLE);
            assert_eq!(peer, hex::encode(a.self_xonly()));
        }
        other => panic!("expected nonce_unavailable on stale nonces, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the refusal came only after {:?} (B's timeout is 3 s)",
        started.elapsed()
    );
    let a_idx = ks.shares[0].idx;
    assert!(
        b.nonce_status()
            .iter()
            .filter(|s| s.idx == a_idx)
            .all(|s| s.incoming == 0),
        "B dropped A's stale nonces: {:?}",
        b.nonce_status()
    );
    match a.sign(rand::random()).await {
        Err(NodeError::V2(V2Error::NoncesExhausted { .. })) => {}
        other => panic!("expected exhaustion before a ping, got {other:?}"),
    }
    ping_until_ok(&a, &b).await;
    let msg: [u8; 32] = rand::random();
    let sig = a.sign(msg).await.expect("signing resumes after a ping");
    assert!(verify(&ks.group.group_pk, &msg, &sig));
    let msg: [u8; 32] = rand::random();
    let sig = b
        .sign(msg)
        .await
        .expect("B signs with the restarted A at once");
    assert!(verify(&ks.group.group_pk, &msg, &sig));

    // A clean stop clears the marker; the next start is clean.
    stop_a.send(true).expect("stop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.v2_run_marker(&gid).expect("marker") {
        assert!(Instant::now() < deadline, "marker never cleared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!a.is_running());
    let (a2, _s) = node(&ks, 0, &url, Some(store.clone()));
    assert!(!a2.started_after_unclean_stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_onboards_from_a_running_node_and_signs_with_it() {
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let (a, _sa) = node(&ks, 0, &url, None);

    // C knows only what a bfonboard carries: its share secret, the relays and A's id.
    let c_secret = ks.shares[2].secret.clone();
    let done = v2::onboard(c_secret, a.self_xonly(), vec![url.clone()], TIMEOUT)
        .await
        .expect("onboarding answered");
    assert_eq!(done.group, ks.group, "C learned the group package");
    assert!(done.pool.is_sign_ready(), "C holds A's nonces");
    assert_eq!(done.share.idx, ks.shares[2].idx, "and its own index");
    assert_eq!(done.inviter_idx, ks.shares[0].idx);

    // A stranger (not in the group) gets no answer.
    let stranger = SecretScalar::from_bytes(&[7u8; 32]).expect("scalar");
    match v2::onboard(
        stranger,
        a.self_xonly(),
        vec![url.clone()],
        Duration::from_secs(2),
    )
    .await
    {
        Err(NodeError::Timeout(_)) => {}
        other => panic!("expected a timeout for a non-member, got {other:?}"),
    }

    let (tx, rx) = watch::channel(false);
    let c = v2::start_onboarded(done, vec![url], options(None), rx).expect("C starts");
    // Sign-ready with the inviter at once, before any ping.
    assert!(
        c.nonce_status()
            .iter()
            .any(|s| s.peer == a.self_xonly() && s.sign_ready),
        "{:?}",
        c.nonce_status()
    );
    for (signer, name) in [(&c, "C"), (&a, "A")] {
        let msg: [u8; 32] = rand::random();
        let sig = signer
            .sign(msg)
            .await
            .unwrap_or_else(|e| panic!("{name} signs: {e}"));
        assert!(verify(&ks.group.group_pk, &msg, &sig));
    }
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keepalive_ping_makes_peers_sign_ready_without_a_request() {
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let start = |i: usize| {
        let (tx, rx) = watch::channel(false);
        let mut o = options(None);
        o.ping_interval = Some(Duration::from_millis(500));
        let h = v2::start(
            ks.group.clone(),
            ks.shares[i].clone(),
            vec![url.clone()],
            o,
            rx,
        )
        .expect("starts");
        (h, tx)
    };
    let (a, _sa) = start(0);
    let (b, _sb) = start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = |n: &V2Handle, peer: [u8; 32]| {
            n.nonce_status()
                .iter()
                .any(|s| s.peer == peer && s.sign_ready)
        };
        if ready(&a, b.self_xonly()) && ready(&b, a.self_xonly()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keep-alive never exchanged nonces"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Signing in both directions while the keep-alive pings keep crossing.
    for i in 0..6 {
        let signer = if i % 2 == 0 { &b } else { &a };
        let msg: [u8; 32] = rand::random();
        let sig = signer
            .sign(msg)
            .await
            .unwrap_or_else(|e| panic!("signature {i}: {e}"));
        assert!(verify(&ks.group.group_pk, &msg, &sig));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A clean stop keeps the pools (sealed in the store): peers still hold the nonces we
/// advertised — bifrost-rs 0.5.0 peers never drop them — so they sign with us right after
/// the restart, without a ping and without stale-nonce failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clean_stop_pools_are_kept_and_peers_sign_at_once() {
    let (_, ks) = keyset();
    let relay = TestServer::start(&[]);
    let url = relay_url(&relay);
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(&tmp.path().join("a.redb")).expect("store");
    let (b, _sb) = node(&ks, 1, &url, None);
    let (a, stop_a) = node(&ks, 0, &url, Some(store.clone()));
    let gid = a.group_id();
    ping_until_ok(&b, &a).await;
    let before = a.nonce_status();
    assert!(before.iter().any(|s| s.outgoing > 0), "{before:?}");

    stop_a.send(true).expect("stop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.v2_run_marker(&gid).expect("marker") {
        assert!(Instant::now() < deadline, "marker never cleared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (a, _stop) = node(&ks, 0, &url, Some(store.clone()));
    assert!(!a.started_after_unclean_stop());
    let b_idx = ks.shares[1].idx;
    let outgoing = |st: &[v2::NonceStatus]| {
        st.iter()
            .find(|s| s.idx == b_idx)
            .map(|s| (s.outgoing, s.incoming))
    };
    assert_eq!(
        outgoing(&a.nonce_status()),
        outgoing(&before),
        "pools restored"
    );

    // Wait until A's subscription is live (A pings B; B holds plenty of A's nonces, so A
    // advertises none), then B signs with the nonces A gave it before the restart.
    let a_idx = ks.shares[0].idx;
    let b_holds = |b: &V2Handle| {
        b.nonce_status()
            .iter()
            .find(|s| s.idx == a_idx)
            .map(|s| s.incoming)
    };
    let held = b_holds(&b);
    ping_until_ok(&a, &b).await;
    assert_eq!(b_holds(&b), held, "no new nonces were needed");
    let msg: [u8; 32] = rand::random();
    let sig = b
        .sign(msg)
        .await
        .expect("the restored pool answers nonces advertised before the restart");
    assert!(verify(&ks.group.group_pk, &msg, &sig));
    // The saved pools were taken at start: a later unclean stop cannot bring them back.
    let (dirty, pools) = store.v2_begin_run_taking_pools(&gid, now()).expect("take");
    assert!(dirty, "A is running, so its marker is set");
    assert!(pools.is_empty());
}
