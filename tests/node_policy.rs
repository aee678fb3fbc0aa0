//! The v1 share-leak guard end to end (spec §11.1): in-process igloo daemons on one built-in
//! relay, plus a raw requester holding another share of the 2-of-3 keyset.
//!
//! * responder: `allowReceive=false` → no answer; a partial cap refuses once reached; counts
//!   and API policies survive a restart and win over `PEER_POLICIES`; DELETE falls back to it;
//! * requester: `allowSend=false` → that peer is never asked;
//! * `SIGN_POLICY=approve`: nothing signed until approved; deny and expiry → the requester
//!   times out;
//! * every policy/approval route's error statuses.

mod common;
mod relay_common;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{TestServer, client};
use igloo::frostr::SharePackage;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::session::{SessionPackage, SessionTemplate, SigVector, create_session};
use igloo::frostr::sign::SigningSession;
use igloo::frostr::transport::envelope::MessageId;
use igloo::frostr::transport::event::{Event as WireEvent, open, seal};
use igloo::frostr::transport::payload::Payload;
use igloo::frostr::types::{compressed, x_only};
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

fn signer_args(ks: &Keyset, share: usize, relay: &str, timeout_ms: u64) -> Vec<String> {
    vec![
        "--headless".into(),
        "true".into(),
        "--group-cred".into(),
        encode_group(&ks.group),
        "--share-cred".into(),
        encode_share(&ks.shares[share]).to_string(),
        "--relays".into(),
        relay.into(),
        "--relay-enabled".into(),
        "false".into(),
        "--frostr-sign-timeout".into(),
        timeout_ms.to_string(),
    ]
}

fn start(args: &[String], extra: &[&str], dir: Option<PathBuf>) -> TestServer {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    match dir {
        Some(d) => TestServer::start_in(d, &all),
        None => TestServer::start(&all),
    }
}

async fn get(srv: &TestServer, path: &str) -> (u16, Value) {
    let (code, v, _) = common::call(srv, reqwest::Method::GET, path, None, None).await;
    (code, v)
}

async fn send(srv: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let (code, v, _) = common::call(srv, m, path, None, body).await;
    (code, v)
}

async fn wait_connected(srv: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, s) = get(srv, "/api/status").await;
        if s["nodeActive"] == json!(true) && s["health"]["isConnected"] == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "node never connected: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ping through the API until the peer answers (both subscriptions are then live).
async fn ping_until_online(srv: &TestServer, target: &[u8; 32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = send(
            srv,
            "POST",
            "/api/peers/ping",
            Some(json!({ "target": hex::encode(target) })),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        if body["success"] == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "peer never answered: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn xonly(ks: &Keyset, share: usize) -> [u8; 32] {
    x_only(&ks.shares[share].public_key())
}

fn policy_path(peer: &[u8; 32]) -> String {
    format!("/api/peers/{}/policy", hex::encode(peer))
}

async fn policy_of(srv: &TestServer, peer: &[u8; 32]) -> Value {
    let (code, body) = get(srv, &policy_path(peer)).await;
    assert_eq!(code, 200, "{body}");
    body["policy"].clone()
}

async fn put_policy(srv: &TestServer, peer: &[u8; 32], body: Value) -> Value {
    let (code, resp) = send(srv, "PUT", &policy_path(peer), Some(body)).await;
    assert_eq!(code, 200, "{resp}");
    resp["policy"].clone()
}

/// A requester speaking raw bifrost v1 with one share, through the relay.
struct Raw {
    ws: Client,
    me: SharePackage,
}

impl Raw {
    async fn connect(relay: &str, ks: &Keyset, share: usize) -> Raw {
        let me = ks.shares[share].clone();
        let mut ws = Client::connect(relay).await;
        let filter = Filter::new()
            .kind(Kind::from(20004))
            .pubkey(PublicKey::from_slice(&x_only(&me.public_key())).expect("pk"));
        ws.send(ClientMessage::req(SubscriptionId::new("me"), vec![filter]))
            .await;
        match ws.recv().await {
            RelayMessage::EndOfStoredEvents(_) => {}
            other => panic!("expected EOSE, got {other:?}"),
        }
        Raw { ws, me }
    }

    fn seal(&self, to: &[u8; 32], id: MessageId, payload: &Payload) -> Event {
        let ev = seal(
            &self.me.seckey,
            to,
            &payload.to_envelope(id),
            &rand::random(),
            &rand::random(),
            now(),
        )
        .expect("seal");
        Event::from_json(ev.to_json()).expect("nostr event")
    }

    /// The next message addressed to us within `wait`, opened; relay OKs are skipped.
    async fn next(&mut self, wait: Duration) -> Option<(MessageId, Payload)> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ws.try_recv(left).await? {
                RelayMessage::Event { event, .. } => {
                    let wire = WireEvent::from_json(&event.as_json()).expect("wire event");
                    let env = open(&self.me.seckey, &wire).expect("open");
                    return Some((env.id, Payload::parse(&env).expect("payload")));
                }
                RelayMessage::Ok { status, .. } => assert!(status),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Ping `to` until it answers: its subscription is live.
    async fn ping_until_answer(&mut self, to: &[u8; 32]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let id = MessageId(rand::random());
            self.ws
                .send(ClientMessage::event(self.seal(to, id, &Payload::PingReq)))
                .await;
            if let Some((rid, Payload::PingRes(_))) = self.next(Duration::from_secs(1)).await {
                if rid == id {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "peer never answered a ping");
        }
    }

    /// Send a `/sign/req` of `n` sighashes to `to` (share index `to_idx`).
    async fn ask_n(
        &mut self,
        ks: &Keyset,
        to: &[u8; 32],
        to_idx: u32,
        n: usize,
    ) -> (SessionPackage, MessageId) {
        let pkg = create_session(
            &ks.group,
            SessionTemplate::new(
                (0..n).map(|_| SigVector::new(rand::random())).collect(),
                vec![self.me.idx, to_idx],
                u32::try_from(now()).expect("stamp"),
            ),
        )
        .expect("session");
        let id = MessageId(rand::random());
        let ev = self.seal(to, id, &Payload::SignReq(pkg.clone()));
        self.ws.send(ClientMessage::event(ev)).await;
        (pkg, id)
    }

    /// Ask and expect a valid partial signature.
    async fn ask_answered(&mut self, ks: &Keyset, to: &[u8; 32], to_idx: u32) {
        self.ask_n_answered(ks, to, to_idx, 1).await;
    }

    /// Ask for `n` sighashes and expect a valid partial signature for each.
    async fn ask_n_answered(&mut self, ks: &Keyset, to: &[u8; 32], to_idx: u32, n: usize) {
        let (pkg, id) = self.ask_n(ks, to, to_idx, n).await;
        let (rid, payload) = self
            .next(Duration::from_secs(10))
            .await
            .expect("a /sign/res");
        assert_eq!(rid, id);
        let Payload::SignRes(psig) = payload else {
            panic!("expected /sign/res");
        };
        let partials = SigningSession::new(&ks.group, pkg)
            .expect("session")
            .verify_response(&psig)
            .expect("the partials verify");
        assert_eq!(partials.len(), n);
    }

    /// Ask and expect no answer within `wait`.
    async fn ask_refused(&mut self, ks: &Keyset, to: &[u8; 32], to_idx: u32, wait: Duration) {
        self.ask_n_refused(ks, to, to_idx, 1, wait).await;
    }

    /// Ask for `n` sighashes and expect no answer within `wait`.
    async fn ask_n_refused(
        &mut self,
        ks: &Keyset,
        to: &[u8; 32],
        to_idx: u32,
        n: usize,
        wait: Duration,
    ) {
        self.ask_n(ks, to, to_idx, n).await;
        if let Some((_, p)) = self.next(wait).await {
            panic!("the request was answered with {}", p.tag().as_str());
        }
    }
}

fn verify(group: &[u8; 32], msg: &[u8; 32], sig_hex: &str) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    let vk = VerifyingKey::from_bytes(group).expect("group key");
    let Ok(sig) = Signature::try_from(sig.as_slice()) else {
        return false;
    };
    vk.verify_raw(msg, &sig).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_policy_cap_counts_and_persistence() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("b");
    let b_args = signer_args(&ks, 1, &relay_url, 10_000);
    let (b_x, c_x) = (xonly(&ks, 1), xonly(&ks, 2));

    let b = start(&b_args, &[], Some(dir.clone()));
    wait_connected(&b).await;
    let mut c = Raw::connect(&relay_url, &ks, 2).await;
    c.ping_until_answer(&b_x).await;

    // Default policy: answered and counted.
    let p = policy_of(&b, &c_x).await;
    assert_eq!(
        (p["source"].clone(), p["allowReceive"].clone()),
        (json!("default"), json!(true))
    );
    c.ask_answered(&ks, &b_x, 2).await;
    assert_eq!(policy_of(&b, &c_x).await["partialsIssued"], json!(1));

    // allowReceive=false: silence. allowSend is left out and keeps its value.
    let p = put_policy(&b, &c_x, json!({ "allowReceive": false })).await;
    assert_eq!(p["allowSend"], json!(true));
    assert_eq!(p["source"], json!("api"));
    c.ask_refused(&ks, &b_x, 2, Duration::from_secs(2)).await;

    // Every sighash counts toward the cap, and a session is refused whole when count + its
    // sighashes would pass it: with 1 issued and a cap of 2, a two-sighash session is
    // refused (nothing counted); with a cap of 3 it is answered and counted twice.
    put_policy(&b, &c_x, json!({ "allowReceive": true, "partialCap": 2 })).await;
    c.ask_n_refused(&ks, &b_x, 2, 2, Duration::from_secs(2))
        .await;
    assert_eq!(policy_of(&b, &c_x).await["partialsIssued"], json!(1));
    put_policy(&b, &c_x, json!({ "partialCap": 3, "label": "phone" })).await;
    c.ask_n_answered(&ks, &b_x, 2, 2).await;
    assert_eq!(policy_of(&b, &c_x).await["partialsIssued"], json!(3));
    // Three sighashes in one session are never answered, whatever the cap.
    put_policy(&b, &c_x, json!({ "partialCap": null })).await;
    c.ask_n_refused(&ks, &b_x, 2, 3, Duration::from_secs(2))
        .await;
    assert_eq!(policy_of(&b, &c_x).await["partialsIssued"], json!(3));
    // At the cap: refused.
    put_policy(&b, &c_x, json!({ "partialCap": 3 })).await;
    c.ask_refused(&ks, &b_x, 2, Duration::from_secs(2)).await;
    let (code, peers) = get(&b, "/api/peers").await;
    assert_eq!(code, 200);
    let cv = peers["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["policy"]["normalizedPubkey"] == json!(hex::encode(c_x)))
        .expect("C listed")
        .clone();
    assert_eq!(cv["partialsIssued"], json!(3));
    assert_eq!(cv["partialCap"], json!(3));
    assert_eq!(
        cv["pubkey"],
        json!(hex::encode(compressed(&ks.shares[2].public_key())))
    );
    let (_, all) = get(&b, "/api/peers/policies").await;
    assert_eq!(all["policies"].as_array().map(Vec::len), Some(2));
    b.stop().expect("b stops");

    // Restart with PEER_POLICIES denying C: the API policy and the counts survive and win.
    let seed = format!(
        r#"[{{"pubkey":"{}","allowReceive":false,"note":"env"}}]"#,
        hex::encode(c_x)
    );
    let b = start(&b_args, &["--peer-policies", &seed], Some(dir.clone()));
    wait_connected(&b).await;
    let p = policy_of(&b, &c_x).await;
    assert_eq!(p["partialsIssued"], json!(3));
    assert_eq!(p["partialCap"], json!(3));
    assert_eq!(p["allowReceive"], json!(true));
    assert_eq!(p["source"], json!("api"));
    assert_eq!(p["label"], json!("phone"));
    assert!(p["lastUpdated"].is_string());
    c.ping_until_answer(&b_x).await;
    c.ask_refused(&ks, &b_x, 2, Duration::from_secs(2)).await;

    // DELETE: back to the env entry; a second DELETE finds nothing.
    let (code, body) = send(&b, "DELETE", &policy_path(&c_x), None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["removed"], json!(true));
    assert_eq!(body["policy"]["source"], json!("env"));
    assert_eq!(body["policy"]["allowReceive"], json!(false));
    assert_eq!(body["policy"]["note"], json!("env"));
    assert_eq!(
        body["policy"]["partialsIssued"],
        json!(3),
        "counts are not policies"
    );
    let (code, body) = send(&b, "DELETE", &policy_path(&c_x), None).await;
    assert_eq!((code, body["code"].clone()), (404, json!("NOT_FOUND")));

    // Route errors with a running node.
    let (code, _) = get(&b, &policy_path(&[7u8; 32])).await;
    assert_eq!(code, 404, "not a peer");
    let (code, _) = get(&b, "/api/peers/nothex/policy").await;
    assert_eq!(code, 400);
    let (code, _) = send(
        &b,
        "PUT",
        &policy_path(&c_x),
        Some(json!({ "allowRecieve": false })),
    )
    .await;
    assert_eq!(code, 400, "a misspelt field is refused");
    let (code, _) = send(
        &b,
        "PUT",
        &policy_path(&[7u8; 32]),
        Some(json!({ "allowSend": false })),
    )
    .await;
    assert_eq!(code, 404);
    let (code, me) = get(&b, "/api/peers/self").await;
    assert_eq!(code, 200);
    assert_eq!(
        me["pubkey"],
        json!(hex::encode(b_x)),
        "x-only, as igloo-server"
    );
    let (code, g) = get(&b, "/api/peers/group").await;
    assert_eq!(code, 200);
    assert_eq!(g["pubkey"], json!(hex::encode(ks.group.pubkey_x_only())));
    assert_eq!(
        (g["threshold"].clone(), g["totalShares"].clone()),
        (json!(2), json!(3))
    );
    let (code, pending) = get(&b, "/api/sign/pending").await;
    assert_eq!(code, 200);
    assert_eq!(pending["policy"], json!("auto"));
    let (code, _) = send(&b, "POST", "/api/sign/pending/abc/approve", None).await;
    assert_eq!(code, 404);
    let (code, _) = send(&b, "POST", "/api/sign/pending/abc/deny", None).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_policy_picks_peers_and_receive_policy_times_the_requester_out() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = ks.group.pubkey_x_only();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let (a_x, b_x, c_x) = (xonly(&ks, 0), xonly(&ks, 1), xonly(&ks, 2));
    let a = start(&signer_args(&ks, 0, &relay_url, 2_000), &[], None);
    let tmp = tempfile::tempdir().expect("tmp");
    let b_dir = tmp.path().join("b");
    let b = start(
        &signer_args(&ks, 1, &relay_url, 10_000),
        &[],
        Some(b_dir.clone()),
    );
    wait_connected(&a).await;
    wait_connected(&b).await;
    ping_until_online(&a, &b_x).await;
    let mut c = Raw::connect(&relay_url, &ks, 2).await;

    // B may not be asked: A's request goes to C (raw, silent) and times out.
    put_policy(&a, &b_x, json!({ "allowSend": false })).await;
    let msg: [u8; 32] = rand::random();
    let (code, body) = send(
        &a,
        "POST",
        "/api/sign",
        Some(json!({ "message": hex::encode(msg) })),
    )
    .await;
    assert_eq!(
        (code, body["code"].clone()),
        (504, json!("SIGN_TIMEOUT")),
        "{body}"
    );
    let (_, got) = c.next(Duration::from_secs(5)).await.expect("C was asked");
    assert!(
        matches!(got, Payload::SignReq(_)),
        "C got {}",
        got.tag().as_str()
    );
    assert_eq!(
        policy_of(&b, &a_x).await["partialsIssued"],
        json!(0),
        "B never asked"
    );

    // Nobody may be asked: 503 at once.
    put_policy(&a, &c_x, json!({ "allowSend": false })).await;
    let (code, body) = send(
        &a,
        "POST",
        "/api/sign",
        Some(json!({ "message": hex::encode(msg) })),
    )
    .await;
    assert_eq!(
        (code, body["code"].clone()),
        (503, json!("NODE_UNAVAILABLE")),
        "{body}"
    );

    // B asked again, but B does not answer A: timeout.
    put_policy(&a, &b_x, json!({ "allowSend": true })).await;
    put_policy(&b, &a_x, json!({ "allowReceive": false })).await;
    let (code, body) = send(
        &a,
        "POST",
        "/api/sign",
        Some(json!({ "message": hex::encode(msg) })),
    )
    .await;
    assert_eq!(
        (code, body["code"].clone()),
        (504, json!("SIGN_TIMEOUT")),
        "{body}"
    );
    assert_eq!(policy_of(&b, &a_x).await["partialsIssued"], json!(0));

    // B answers again: an event comes back complete and verifiable, counted on B.
    put_policy(&b, &a_x, json!({ "allowReceive": true })).await;
    let tags = vec![vec!["t".to_owned(), "igloo".to_owned()]];
    let (code, body) = send(
        &a,
        "POST",
        "/api/sign",
        Some(json!({ "event": { "kind": 1, "created_at": now(), "content": "hi", "tags": tags } })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let ev = &body["event"];
    assert_eq!(ev["pubkey"], json!(hex::encode(group)));
    assert_eq!(ev["id"], body["id"]);
    assert_eq!(ev["sig"], body["signature"]);
    assert_eq!(ev["content"], json!("hi"));
    let parsed = Event::from_json(ev.to_string()).expect("a NIP-01 event");
    parsed.verify().expect("id and signature verify");
    assert_eq!(policy_of(&b, &a_x).await["partialsIssued"], json!(1));

    // An event under another key is refused before anything is signed.
    let (code, body) = send(
        &a,
        "POST",
        "/api/sign",
        Some(json!({ "event": { "pubkey": hex::encode(b_x), "kind": 1,
            "created_at": now(), "content": "x", "tags": [] } })),
    )
    .await;
    assert_eq!((code, body["code"].clone()), (400, json!("BAD_REQUEST")));
    let (code, body) = send(
        &a,
        "POST",
        "/api/sign",
        Some(json!({ "message": hex::encode(msg) })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(verify(
        &group,
        &msg,
        body["signature"].as_str().expect("sig")
    ));

    // Uncapped counts are written in batches; none is lost when the node stops.
    assert_eq!(policy_of(&b, &a_x).await["partialsIssued"], json!(2));
    b.stop().expect("b stops");
    let store = igloo::store::Store::open(&b_dir).expect("reopen B's store");
    let counts = store
        .load_partial_counts(&igloo::frostr::credentials::group_id(&ks.group))
        .expect("counts");
    assert_eq!(counts.get(&a_x), Some(&2));
}

/// Start a sign on A in the background; returns its eventual (status, body).
fn sign_in_background(a: &TestServer) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = a.url("/api/sign");
    tokio::spawn(async move {
        let r = client()
            .post(url)
            .json(&json!({ "message": hex::encode(rand::random::<[u8; 32]>()) }))
            .send()
            .await
            .expect("sign");
        let code = r.status().as_u16();
        (code, r.json().await.expect("json"))
    })
}

async fn wait_pending(b: &TestServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = get(b, "/api/sign/pending").await;
        assert_eq!(code, 200, "{body}");
        if let Some(p) = body["pending"].as_array().and_then(|a| a.first()) {
            return p.clone();
        }
        assert!(Instant::now() < deadline, "no request queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_mode_signs_only_after_approval() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let (a_x, b_x, c_x) = (xonly(&ks, 0), xonly(&ks, 1), xonly(&ks, 2));
    // A never asks C (seeded), so every request of A goes to B.
    let seed = format!(r#"[{{"pubkey":"{}","allowSend":false}}]"#, hex::encode(c_x));
    let a = start(
        &signer_args(&ks, 0, &relay_url, 4_000),
        &["--peer-policies", &seed],
        None,
    );
    let b = start(
        &signer_args(&ks, 1, &relay_url, 2_000),
        &["--sign-policy", "approve"],
        None,
    );
    wait_connected(&a).await;
    wait_connected(&b).await;
    ping_until_online(&a, &b_x).await;
    assert_eq!(policy_of(&a, &c_x).await["source"], json!("env"));

    // Approve: the sign completes, counted once.
    let job = sign_in_background(&a);
    let p = wait_pending(&b).await;
    assert_eq!(
        p["peer"],
        json!(hex::encode(compressed(&ks.shares[0].public_key())))
    );
    assert_eq!(p["sighashes"].as_array().map(Vec::len), Some(1));
    assert!(p["receivedAt"].is_string() && p["expiresAt"].is_string());
    assert!(!job.is_finished(), "nothing is signed before approval");
    assert_eq!(policy_of(&b, &a_x).await["partialsIssued"], json!(0));
    let id = p["id"].as_str().expect("id").to_owned();
    let (code, body) = send(&b, "POST", &format!("/api/sign/pending/{id}/approve"), None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["partialsIssued"], json!(1));
    let (code, body) = job.await.expect("join");
    assert_eq!(code, 200, "{body}");
    let (code, _) = send(&b, "POST", &format!("/api/sign/pending/{id}/approve"), None).await;
    assert_eq!(code, 404, "approved once only");

    // Deny: the requester times out; nothing counted.
    let job = sign_in_background(&a);
    let id = wait_pending(&b).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, body) = send(&b, "POST", &format!("/api/sign/pending/{id}/deny"), None).await;
    assert_eq!((code, body["denied"].clone()), (200, json!(true)));
    let (code, body) = job.await.expect("join");
    assert_eq!((code, body["code"].clone()), (504, json!("SIGN_TIMEOUT")));

    // Expiry: left alone, the request leaves the queue after B's timeout (2 s).
    let job = sign_in_background(&a);
    let id = wait_pending(&b).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (_, body) = get(&b, "/api/sign/pending").await;
    assert_eq!(body["pending"], json!([]), "expired request still listed");
    let (code, _) = send(&b, "POST", &format!("/api/sign/pending/{id}/approve"), None).await;
    assert!(code == 404 || code == 410, "expired approval gave {code}");
    let (code, _) = job.await.expect("join");
    assert_eq!(code, 504);
    assert_eq!(policy_of(&b, &a_x).await["partialsIssued"], json!(1));

    // A two-sighash session waits as one request and, approved, counts two partials.
    let mut c = Raw::connect(&relay_url, &ks, 2).await;
    c.ping_until_answer(&b_x).await;
    let (pkg, msg_id) = c.ask_n(&ks, &b_x, 2, 2).await;
    let p = wait_pending(&b).await;
    assert_eq!(p["sighashes"].as_array().map(Vec::len), Some(2), "{p}");
    let id = p["id"].as_str().expect("id").to_owned();
    let (code, body) = send(&b, "POST", &format!("/api/sign/pending/{id}/approve"), None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["partialsIssued"], json!(2));
    let (rid, payload) = c.next(Duration::from_secs(10)).await.expect("/sign/res");
    assert_eq!(rid, msg_id);
    let Payload::SignRes(psig) = payload else {
        panic!("expected /sign/res");
    };
    let partials = SigningSession::new(&ks.group, pkg)
        .expect("session")
        .verify_response(&psig)
        .expect("both partials verify");
    assert_eq!(partials.len(), 2);
    // With a cap of 3, another two-sighash session would pass it: refused, never queued.
    put_policy(&b, &c_x, json!({ "partialCap": 3 })).await;
    c.ask_n_refused(&ks, &b_x, 2, 2, Duration::from_secs(2))
        .await;
    let (_, body) = get(&b, "/api/sign/pending").await;
    assert_eq!(body["pending"], json!([]), "{body}");
    assert_eq!(policy_of(&b, &c_x).await["partialsIssued"], json!(2));
}

#[tokio::test]
async fn policy_routes_without_a_node() {
    let srv = TestServer::start(&["--headless", "true"]);
    let key = hex::encode([7u8; 32]);
    for path in ["/api/peers/policies", "/api/sign/pending"] {
        let (code, body) = get(&srv, path).await;
        assert_eq!(
            (code, body["code"].clone()),
            (503, json!("NODE_UNAVAILABLE")),
            "{path}"
        );
    }
    let (code, _) = get(&srv, &format!("/api/peers/{key}/policy")).await;
    assert_eq!(code, 503);
    let (code, _) = send(
        &srv,
        "PUT",
        &format!("/api/peers/{key}/policy"),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 503);
    let (code, _) = send(&srv, "DELETE", &format!("/api/peers/{key}/policy"), None).await;
    assert_eq!(code, 503);
    let (code, _) = send(&srv, "PUT", "/api/peers/xyz/policy", Some(json!({}))).await;
    assert_eq!(code, 400, "a bad key is a 400 first");
    for action in ["approve", "deny"] {
        let (code, _) = send(&srv, "POST", &format!("/api/sign/pending/x/{action}"), None).await;
        assert_eq!(code, 503);
    }
    for path in ["/api/peers/self", "/api/peers/group"] {
        let (code, _) = get(&srv, path).await;
        assert_eq!(code, 400, "{path}");
    }
}

#[test]
fn a_bad_peer_policies_setting_stops_start_up() {
    use clap::Parser;
    let cli = igloo::config::Cli::try_parse_from([
        "igloo",
        "--peer-policies",
        r#"[{"pubkey":"nothex","allowSend":false}]"#,
    ])
    .expect("parses");
    let err = igloo::config::Config::from_settings(cli.settings).expect_err("refused");
    assert_eq!(err.var, "PEER_POLICIES");
    let cli = igloo::config::Cli::try_parse_from(["igloo", "--sign-policy", "maybe"]);
    assert!(cli.is_err());
}
