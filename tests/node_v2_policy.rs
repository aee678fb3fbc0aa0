//! Policy parity for the V2 node: peer-policy edits through the API apply to the running V2
//! node at once, `SIGN_POLICY=approve` and partial-signature caps cover V2 sign requests,
//! and a `bfprofile`'s policy overrides become the stored peer policies on import.
//!
//! The node under test is a daemon (TestServer) that imported a `bfprofile` and runs V2; its
//! peer is an in-process V2 node; both talk through the relay of another TestServer.

mod common;
mod relay_common;

use std::time::{Duration, Instant};

use common::{TestServer, call};
use igloo::frostr_v2::credentials::{
    KdfParams, MethodOverrides, Override, PeerPolicy, PolicyOverride, Profile, encode_profile,
};
use igloo::frostr_v2::keyset::{Keyset, generate};
use igloo::node::v2::{self, V2Error, V2Handle, V2Options};
use igloo::node::{NodeError, PolicyUpdate};
use igloo::store::Store;
use k256::schnorr::{Signature, VerifyingKey};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::watch;

const API_KEY: &str = "v2-policy-test-key";
const AUTH: Option<(&str, &str)> = Some(("x-api-key", API_KEY));
const PKG_PW: &str = "package password 1";

fn keyset() -> Keyset {
    generate("policy", 2, 3, &mut rand::thread_rng()).expect("keyset")
}

fn verify(group: &[u8; 32], msg: &[u8; 32], sig: &[u8; 64]) -> bool {
    let vk = VerifyingKey::from_bytes(group).expect("group key");
    let sig = Signature::try_from(&sig[..]).expect("sig bytes");
    vk.verify_raw(msg, &sig).is_ok()
}

/// An in-process V2 node for member `i` (no keep-alive ping; `timeout` per round).
fn peer_node(
    ks: &Keyset,
    i: usize,
    relay: &str,
    timeout: Duration,
    store: Option<Store>,
    approve: bool,
) -> (V2Handle, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    let mut o = V2Options::new(timeout);
    o.ping_interval = None;
    o.store = store;
    if approve {
        o.sign_policy = igloo::node::SignPolicy::Approve;
    }
    let h = v2::start(
        ks.group.clone(),
        ks.shares[i].clone(),
        vec![relay.to_owned()],
        o,
        rx,
    )
    .expect("V2 node starts");
    (h, tx)
}

fn profile_package(ks: &Keyset, i: usize, relay: &str, overrides: Vec<PolicyOverride>) -> String {
    let profile = Profile {
        name: format!("member {i}"),
        share_secret: ks.shares[i].secret.clone(),
        relays: vec![relay.to_owned()],
        policy_overrides: overrides,
        group: ks.group.clone(),
    };
    encode_profile(&profile, PKG_PW, KdfParams::FLOOR, &mut rand::thread_rng())
        .expect("bfprofile")
        .to_string()
}

/// Import `pkg` into `d` and wait until it runs V2.
async fn import(d: &TestServer, pkg: &str) {
    let (code, r, _) = call(
        d,
        Method::POST,
        "/api/keyset/import",
        AUTH,
        Some(json!({"bfprofile": pkg, "password": PKG_PW})),
    )
    .await;
    assert_eq!(code, 200, "import: {r}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, st, _) = call(d, Method::GET, "/api/status", AUTH, None).await;
        if st["protocol"] == "v2" && st["nodeActive"] == true {
            return;
        }
        assert!(Instant::now() < deadline, "the daemon never ran V2: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A headless daemon on the relay running member `i` of `ks` from a `bfprofile`.
async fn daemon(
    relay: &str,
    ks: &Keyset,
    i: usize,
    overrides: Vec<PolicyOverride>,
    extra: &[&str],
) -> TestServer {
    let mut args = vec![
        "--auth-enabled",
        "true",
        "--headless",
        "true",
        "--api-key",
        API_KEY,
        "--rate-limit-enabled",
        "false",
        "--relays",
        relay,
    ];
    args.extend_from_slice(extra);
    let d = TestServer::start(&args);
    import(&d, &profile_package(ks, i, relay, overrides)).await;
    d
}

/// Ping until the peer answers (both subscriptions are then live on the relay).
async fn ping_until_ok(from: &V2Handle, to: &[u8; 32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match from.ping(to, Duration::from_secs(2)).await {
            Ok(_) => return,
            Err(e) => assert!(Instant::now() < deadline, "peer never answered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until `cond` holds (polled), or fail with `what`.
async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The daemon's policy view of peer `x` (GET /api/peers/policies).
/// PUT `body` as D's policy towards peer `x`; it must be accepted. Returns the answer.
async fn put_policy(d: &TestServer, x: &[u8; 32], body: Value) -> Value {
    let path = format!("/api/peers/{}/policy", hex::encode(x));
    let (code, b, _) = call(d, Method::PUT, &path, AUTH, Some(body)).await;
    assert_eq!(code, 200, "{b}");
    b
}

async fn policy_of(d: &TestServer, x: &[u8; 32]) -> Value {
    let (code, b, _) = call(d, Method::GET, "/api/peers/policies", AUTH, None).await;
    assert_eq!(code, 200, "{b}");
    b["policies"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|p| p["normalizedPubkey"] == hex::encode(x))
                .cloned()
        })
        .unwrap_or_else(|| panic!("peer missing: {b}"))
}

/// The daemon's `POST /api/sign` of a 32-byte message: status and body.
async fn daemon_sign(d: &TestServer, msg: &[u8; 32]) -> (u16, Value) {
    let (code, b, _) = call(
        d,
        Method::POST,
        "/api/sign",
        AUTH,
        Some(json!({"message": hex::encode(msg)})),
    )
    .await;
    (code, b)
}

/// What `a` observed of peer `x`'s policy towards it (`recv`: it answers us).
fn remote_recv(a: &V2Handle, x: &[u8; 32]) -> Option<bool> {
    a.peers()
        .into_iter()
        .find(|p| &p.xonly == x)
        .and_then(|p| p.remote_policy)
        .map(|r| r.recv)
}

/// Send member `from`'s key a SignRequest to `to` directly on the relay (whatever `from`'s
/// node thinks of `to`'s policy); returns the code of the Error reply, if one came.
async fn raw_sign_request(url: &str, ks: &Keyset, from: usize, to: &[u8; 32]) -> Option<String> {
    use igloo::frostr_v2::envelope::{Envelope, Payload, SignSession};
    use igloo::frostr_v2::event::{Event as WireEvent, open, seal};
    use nostr::prelude::{
        ClientMessage, Event, Filter, Kind, PublicKey, RelayMessage, SubscriptionId,
    };
    let me = ks.shares[from].peer_id();
    let mut spy = relay_common::Client::connect(url).await;
    let filter = Filter::new()
        .kind(Kind::from(20000))
        .pubkey(PublicKey::from_slice(&me).expect("pk"));
    spy.send(ClientMessage::req(SubscriptionId::new("spy"), vec![filter]))
        .await;
    match spy.recv().await {
        RelayMessage::EndOfStoredEvents(_) => {}
        other => panic!("expected EOSE, got {other:?}"),
    }
    let session = SignSession {
        gid: igloo::frostr_v2::ids::group_id(&ks.group),
        sid: [0; 32],
        members: vec![1, 2],
        hashes: vec![[5; 32]],
        content: None,
        kind: "message".into(),
        stamp: 0,
        nonces: vec![],
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let env = Envelope::new(rand::random(), now, Payload::SignRequest(session));
    let ev = seal(
        &ks.shares[from].secret,
        to,
        &env,
        rand::random(),
        &rand::random(),
        now,
    )
    .expect("seal");
    let ev = Event::from_json(ev.to_json()).expect("nostr event");
    relay_common::Client::connect(url).await.publish(&ev).await;
    while let Some(m) = spy.try_recv(Duration::from_millis(2000)).await {
        let RelayMessage::Event { event, .. } = m else {
            continue;
        };
        let w = WireEvent::from_json(&event.as_json()).expect("wire event");
        let Ok(author) = w.author() else { continue };
        let Ok(reply) = open(&ks.shares[from].secret, &author, &w) else {
            continue;
        };
        if reply.request_id == env.request_id {
            if let Payload::Error(e) = reply.payload {
                return Some(e.code);
            }
            return None;
        }
    }
    None
}

fn is_peer_denied(r: &Result<[u8; 64], NodeError>) -> bool {
    matches!(r, Err(NodeError::V2(V2Error::Rejected { code, .. })) if code == "peer_denied")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_edits_reach_the_running_v2_node_at_once() {
    let ks = keyset();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let d = daemon(&url, &ks, 1, vec![], &[]).await;
    let d_id = ks.shares[1].peer_id();
    let (a, _sa) = peer_node(&ks, 0, &url, Duration::from_secs(8), None, false);
    let a_id = a.self_xonly();
    let group = ks.group.group_pk;

    ping_until_ok(&a, &d_id).await;
    let m: [u8; 32] = rand::random();
    let sig = a.sign(m).await.expect("D answers by default");
    assert!(verify(&group, &m, &sig));
    assert_eq!(policy_of(&d, &a_id).await["partialsIssued"], 1);

    // allowReceive=false: D stops answering A, and tells A in a ping at once.
    let b = put_policy(&d, &a_id, json!({"allowReceive": false})).await;
    assert_eq!(b["policy"]["allowReceive"], false);
    assert_eq!(b["policy"]["source"], "api");
    wait_for("A learns D's new policy", async || {
        remote_recv(&a, &d_id) == Some(false)
    })
    .await;
    match a.sign(rand::random()).await {
        Err(NodeError::V2(V2Error::NoncesExhausted { have: 0, .. })) => {}
        other => panic!("A must not ask D any more: {other:?}"),
    }
    // Asked anyway (a raw request under A's key), D refuses with peer_denied.
    let code = raw_sign_request(&url, &ks, 0, &d_id).await;
    assert_eq!(code.as_deref(), Some("peer_denied"));
    assert_eq!(
        policy_of(&d, &a_id).await["partialsIssued"],
        1,
        "no partial after the denial"
    );

    // allowSend=false (receive back on): D no longer asks A, and answers it again.
    put_policy(&d, &a_id, json!({"allowSend": false, "allowReceive": true})).await;
    wait_for("A learns D answers again", async || {
        remote_recv(&a, &d_id) == Some(true)
    })
    .await;
    let m: [u8; 32] = rand::random();
    let sig = a.sign(m).await.expect("D answers A again");
    assert!(verify(&group, &m, &sig));
    // D itself: A is the only peer online and D may not ask it.
    let (code, b) = daemon_sign(&d, &rand::random()).await;
    assert_ne!(code, 200, "D must not ask A: {b}");

    // DELETE: back to the default, D asks A again.
    let path = format!("/api/peers/{}/policy", hex::encode(a_id));
    let (code, b, _) = call(&d, Method::DELETE, &path, AUTH, None).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["policy"]["source"], "default");
    // Nothing else changed since the refusal above: D asks A at once.
    let m: [u8; 32] = rand::random();
    let (code, b) = daemon_sign(&d, &m).await;
    assert_eq!(code, 200, "D signs with A once allowed: {b}");
    let sig = b["signature"].as_str().expect("signature");
    let sig: [u8; 64] = hex::decode(sig).expect("hex").try_into().expect("64 bytes");
    assert!(verify(&group, &m, &sig), "D's signature with A verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_queue_covers_v2_sign_requests() {
    let ks = keyset();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    // D's queue entries expire after its sign timeout (3 s).
    let d = daemon(
        &url,
        &ks,
        1,
        vec![],
        &["--sign-policy", "approve", "--frostr-sign-timeout", "3000"],
    )
    .await;
    let d_id = ks.shares[1].peer_id();
    let (a, _sa) = peer_node(&ks, 0, &url, Duration::from_secs(8), None, false);
    let a_id = a.self_xonly();
    let group = ks.group.group_pk;
    ping_until_ok(&a, &d_id).await;

    let pending = async || -> Vec<Value> {
        let (code, b, _) = call(&d, Method::GET, "/api/sign/pending", AUTH, None).await;
        assert_eq!(code, 200, "{b}");
        assert_eq!(b["policy"], "approve");
        b["pending"].as_array().cloned().unwrap_or_default()
    };

    // Approve: the request waits with nothing counted, then the partial goes out.
    let m1: [u8; 32] = rand::random();
    let signer = a.clone();
    let task = tokio::spawn(async move { signer.sign(m1).await });
    wait_for("the request is queued", async || pending().await.len() == 1).await;
    let entry = pending().await.remove(0);
    assert_eq!(entry["sighashes"], json!([hex::encode(m1)]));
    assert_eq!(entry["peer"], hex::encode(ks.shares[0].pubkey()));
    assert_eq!(
        policy_of(&d, &a_id).await["partialsIssued"],
        0,
        "nothing counted yet"
    );
    let id = entry["id"].as_str().expect("id").to_owned();
    let (code, b, _) = call(
        &d,
        Method::POST,
        &format!("/api/sign/pending/{id}/approve"),
        AUTH,
        None,
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["partialsIssued"], 1);
    let sig = task
        .await
        .expect("task")
        .expect("approved: A's sign succeeds");
    assert!(verify(&group, &m1, &sig));
    assert_eq!(policy_of(&d, &a_id).await["partialsIssued"], 1);
    let (code, _, _) = call(
        &d,
        Method::POST,
        &format!("/api/sign/pending/{id}/approve"),
        AUTH,
        None,
    )
    .await;
    assert_eq!(code, 404, "an approved request is gone");

    // Deny: no partial; A hears peer_denied long before its timeout.
    let signer = a.clone();
    let task = tokio::spawn(async move { signer.sign(rand::random()).await });
    wait_for("the second request is queued", async || {
        pending().await.len() == 1
    })
    .await;
    let id = pending().await[0]["id"].as_str().expect("id").to_owned();
    let asked = Instant::now();
    let (code, b, _) = call(
        &d,
        Method::POST,
        &format!("/api/sign/pending/{id}/deny"),
        AUTH,
        None,
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let r = task.await.expect("task");
    assert!(is_peer_denied(&r), "denied: {r:?}");
    assert!(asked.elapsed() < Duration::from_secs(5), "refused at once");
    assert_eq!(policy_of(&d, &a_id).await["partialsIssued"], 1);

    // Expiry: nobody decides; the entry leaves the queue and no partial is sent.
    ping_until_ok(&a, &d_id).await;
    let signer = a.clone();
    let task = tokio::spawn(async move { signer.sign(rand::random()).await });
    wait_for("the third request is queued", async || {
        pending().await.len() == 1
    })
    .await;
    let id = pending().await[0]["id"].as_str().expect("id").to_owned();
    wait_for("the request expires", async || pending().await.is_empty()).await;
    let (code, _, _) = call(
        &d,
        Method::POST,
        &format!("/api/sign/pending/{id}/approve"),
        AUTH,
        None,
    )
    .await;
    assert!(
        code == 404 || code == 410,
        "an expired request cannot be approved"
    );
    let r = task.await.expect("task");
    assert!(r.is_err(), "no partial after expiry: {r:?}");
    assert_eq!(policy_of(&d, &a_id).await["partialsIssued"], 1);

    // A cap already reached: refused at once (peer_denied), never queued.
    put_policy(&d, &a_id, json!({"partialCap": 1})).await;
    ping_until_ok(&a, &d_id).await;
    let r = a.sign(rand::random()).await;
    assert!(is_peer_denied(&r), "capped: {r:?}");
    assert!(pending().await.is_empty(), "a capped request is not queued");
    assert_eq!(policy_of(&d, &a_id).await["partialsIssued"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_partial_cap_holds_and_is_durable() {
    let ks = keyset();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(&tmp.path().join("b.redb")).expect("store");
    let (a, _sa) = peer_node(&ks, 0, &url, Duration::from_secs(8), None, false);
    let (b, sb) = peer_node(
        &ks,
        1,
        &url,
        Duration::from_secs(8),
        Some(store.clone()),
        false,
    );
    let a_id = a.self_xonly();
    let gid = b.group_id();
    let peer = b
        .update_policy(
            &a_id,
            PolicyUpdate {
                partial_cap: Some(Some(2)),
                ..PolicyUpdate::default()
            },
        )
        .await
        .expect("cap set");
    assert_eq!(peer.meta.partial_cap, Some(2));

    ping_until_ok(&a, &b.self_xonly()).await;
    for _ in 0..2 {
        a.sign(rand::random()).await.expect("under the cap");
    }
    let counts = |s: &Store| s.load_partial_counts(&gid).expect("counts");
    assert_eq!(counts(&store).get(&a_id), Some(&2), "counted durably");
    let r = a.sign(rand::random()).await;
    assert!(is_peer_denied(&r), "the cap refuses: {r:?}");
    assert_eq!(counts(&store).get(&a_id), Some(&2), "never above the cap");
    let seen = b.peer(&a_id).expect("A listed");
    assert_eq!(seen.partials_issued, 2);

    // After a restart the count and the cap still hold.
    sb.send(true).expect("stop B");
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (b, _sb) = peer_node(
        &ks,
        1,
        &url,
        Duration::from_secs(8),
        Some(store.clone()),
        false,
    );
    let seen = b.peer(&a_id).expect("A listed");
    assert_eq!((seen.partials_issued, seen.meta.partial_cap), (2, Some(2)));
    ping_until_ok(&a, &b.self_xonly()).await;
    let r = a.sign(rand::random()).await;
    assert!(is_peer_denied(&r), "still capped after a restart: {r:?}");
    assert_eq!(counts(&store).get(&a_id), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bfprofile_overrides_become_peer_policies_on_import() {
    let ks = keyset();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let (a_id, c_id) = (ks.shares[0].peer_id(), ks.shares[2].peer_id());
    // The profile of member 1 refuses to answer A's sign requests.
    let deny_sign = PolicyOverride {
        pubkey: a_id,
        policy: PeerPolicy {
            request: MethodOverrides::default(),
            respond: MethodOverrides {
                sign: Override::Deny,
                ..MethodOverrides::default()
            },
        },
    };
    let d = daemon(&url, &ks, 1, vec![deny_sign.clone()], &[]).await;
    let d_id = ks.shares[1].peer_id();
    let pa = policy_of(&d, &a_id).await;
    assert_eq!(pa["allowReceive"], false, "{pa}");
    assert_eq!(pa["allowSend"], true, "{pa}");
    assert_eq!(pa["source"], "api", "{pa}");
    let pc = policy_of(&d, &c_id).await;
    assert_eq!(pc["source"], "default", "{pc}");
    assert_eq!(pc["allowReceive"], true);

    // Effective on the running node: its ping tells A, and A is not answered.
    let (a, _sa) = peer_node(&ks, 0, &url, Duration::from_secs(8), None, false);
    ping_until_ok(&a, &d_id).await;
    assert_eq!(remote_recv(&a, &d_id), Some(false));
    match a.sign(rand::random()).await {
        Err(NodeError::V2(V2Error::NoncesExhausted { have: 0, .. })) => {}
        other => panic!("D must not answer A: {other:?}"),
    }

    // The owner's own choice wins over the profile on a later import.
    put_policy(&d, &a_id, json!({"allowReceive": true})).await;
    import(&d, &profile_package(&ks, 1, &url, vec![deny_sign])).await;
    let pa = policy_of(&d, &a_id).await;
    assert_eq!(pa["allowReceive"], true, "the API policy stays: {pa}");
    // The import restarted D's node: A's nonces from its last run still work (pools kept
    // over a clean stop), so no re-sync is needed before signing.
    ping_until_ok(&a, &d_id).await;
    let m: [u8; 32] = rand::random();
    let sig = a.sign(m).await.expect("D answers A now");
    assert!(verify(&ks.group.group_pk, &m, &sig));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bfprofile_given_at_boot_applies_its_overrides() {
    let ks = keyset();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let a_id = ks.shares[0].peer_id();
    // The profile of member 1 never asks A (request.ecdh denied turns "send" off).
    let no_asking = PolicyOverride {
        pubkey: a_id,
        policy: PeerPolicy {
            request: MethodOverrides {
                ecdh: Override::Deny,
                ..MethodOverrides::default()
            },
            respond: MethodOverrides::default(),
        },
    };
    let pkg = profile_package(&ks, 1, &url, vec![no_asking]);
    let d = TestServer::start(&[
        "--auth-enabled",
        "true",
        "--headless",
        "true",
        "--api-key",
        API_KEY,
        "--rate-limit-enabled",
        "false",
        "--relays",
        &url,
        "--share-cred",
        &pkg,
        "--share-password",
        PKG_PW,
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, st, _) = call(&d, Method::GET, "/api/status", AUTH, None).await;
        if st["protocol"] == "v2" && st["nodeActive"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon never ran V2: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // GET /api/keyset reports the running protocol, also for V2 credentials from the
    // environment (nothing stored).
    let (code, k, _) = call(&d, Method::GET, "/api/keyset", AUTH, None).await;
    assert_eq!(code, 200, "{k}");
    assert_eq!(k["protocol"], "v2", "{k}");
    let pa = policy_of(&d, &a_id).await;
    assert_eq!(pa["allowSend"], false, "{pa}");
    assert_eq!(pa["allowReceive"], true, "{pa}");
    // The running node does not ask A: with A the only peer online, D cannot sign.
    let (a, _sa) = peer_node(&ks, 0, &url, Duration::from_secs(8), None, false);
    ping_until_ok(&a, &ks.shares[1].peer_id()).await;
    let (code, b) = daemon_sign(&d, &rand::random()).await;
    assert_ne!(code, 200, "D must not ask A: {b}");
    // While D still answers A.
    let m: [u8; 32] = rand::random();
    let sig = a.sign(m).await.expect("D answers A");
    assert!(verify(&ks.group.group_pk, &m, &sig));
    // Same nonces, policy lifted: D signs with A at once, so the refusal was the policy's.
    put_policy(&d, &a_id, json!({"allowSend": true})).await;
    let m: [u8; 32] = rand::random();
    let (code, b) = daemon_sign(&d, &m).await;
    assert_eq!(code, 200, "D asks A once allowed: {b}");
}
