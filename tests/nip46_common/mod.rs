//! Shared by the NIP-46 tests and benches/nip46_live.rs: the nostr-tools client process
//! (tests/interop/nip46-client.mjs), the 2-of-2 signer setup (an igloo signer and an igloo
//! peer on a third daemon's relay), API helpers and pairing. The including crate has
//! `mod common` and `mod interop_common`.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, ChildStdin};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::transport::event::event_id;
use k256::schnorr::{Signature, VerifyingKey};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestServer, call};
use crate::interop_common::spawn_node_script;

/// The nostr-tools client process; killed on drop.
pub struct Js {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<Value>,
    next_id: u64,
    stash: Vec<Value>,
}

impl Js {
    pub fn start() -> Js {
        let (tx, rx) = mpsc::channel();
        let (child, stdin) = spawn_node_script("nip46-client.mjs", "nostr-tools", move |v| {
            tx.send(v).is_ok()
        });
        Js {
            child,
            stdin: Some(stdin),
            rx,
            next_id: 0,
            stash: Vec::new(),
        }
    }

    /// Sends a command; returns its id.
    pub fn send(&mut self, mut cmd: Value) -> u64 {
        self.next_id += 1;
        cmd["id"] = json!(self.next_id);
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write command");
        stdin.flush().expect("flush");
        self.next_id
    }

    /// The next line answering command `id`.
    pub fn recv(&mut self, id: u64) -> Value {
        if let Some(i) = self.stash.iter().position(|v| v["id"] == json!(id)) {
            return self.stash.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the JS client did not answer command {id}"));
            if v["id"] == json!(id) {
                return v;
            }
            self.stash.push(v);
        }
    }

    pub fn cmd(&mut self, cmd: Value) -> Value {
        let id = self.send(cmd);
        self.recv(id)
    }
}

impl Drop for Js {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signer_args<'a>(group: &'a str, share: &'a str, relay: &'a str) -> Vec<&'a str> {
    vec![
        "--headless",
        "true",
        "--group-cred",
        group,
        "--share-cred",
        share,
        "--relays",
        relay,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "10000",
    ]
}

pub async fn api(srv: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (code, v, _) = call(srv, method.clone(), path, None, body).await;
    assert_eq!(code, 200, "{method} {path}: {v}");
    v
}

/// Waits until the approval queue holds a pending request from `client`.
pub async fn pending_for(srv: &TestServer, client: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = api(srv, Method::GET, "/api/nip46/requests?status=pending", None).await;
        if let Some(r) = v["requests"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["session_pubkey"] == json!(client)))
        {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no pending request from {client}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the NIP-46 service is subscribed on a relay.
pub async fn wait_transport_connected(srv: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = api(srv, Method::GET, "/api/nip46/transport", None).await;
        if t["relay_states"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["connected"] == json!(true)))
        {
            // The REQ follows the connection; give the relay a moment to register it.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
        assert!(Instant::now() < deadline, "NIP-46 never connected: {t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks a signed event from the client against the group key, independently of nostr-tools.
pub fn check_signed(r: &Value, group: &str) {
    let ev = &r["event"];
    assert_eq!(r["verified"], json!(true), "nostr-tools verifyEvent: {r}");
    assert_eq!(ev["pubkey"], json!(group), "{r}");
    let tags: Vec<Vec<String>> = serde_json::from_value(ev["tags"].clone()).expect("tags");
    let id = event_id(
        group,
        ev["created_at"].as_u64().expect("created_at"),
        u16::try_from(ev["kind"].as_u64().expect("kind")).expect("u16 kind"),
        &tags,
        ev["content"].as_str().expect("content"),
    );
    assert_eq!(ev["id"], json!(hex::encode(id)));
    verify_group_sig(group, &id, ev["sig"].as_str().expect("sig"));
}

/// Checks a BIP-340 signature (hex) over `id` under the group key (x-only hex), with k256,
/// independently of any client library.
pub fn verify_group_sig(group: &str, id: &[u8; 32], sig_hex: &str) {
    let mut g = [0u8; 32];
    hex::decode_to_slice(group, &mut g).expect("group hex");
    let vk = VerifyingKey::from_bytes(&g).expect("group key");
    let sig = hex::decode(sig_hex).expect("sig hex");
    let sig = Signature::try_from(sig.as_slice()).expect("sig bytes");
    vk.verify_raw(id, &sig)
        .expect("BIP-340 signature under the group key");
}

pub struct Setup {
    pub ks: Keyset,
    pub relay: TestServer,
    pub relay_url: String,
    pub peer: TestServer,
    pub dir: tempfile::TempDir,
}

pub fn setup() -> Setup {
    let ks = generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let group = encode_group(&ks.group);
    let share2 = encode_share(&ks.shares[1]);
    let peer = TestServer::start(&signer_args(&group, &share2, &relay_url));
    Setup {
        ks,
        relay,
        relay_url,
        peer,
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

pub fn start_signer(s: &Setup) -> TestServer {
    let group = encode_group(&s.ks.group);
    let share1 = encode_share(&s.ks.shares[0]);
    TestServer::start_in(
        s.dir.path().join("data"),
        &signer_args(&group, &share1, &s.relay_url),
    )
}

/// [`setup`] and [`start_signer`], both members connected to the relay: the setup, the group
/// key (x-only hex) and the signer.
pub async fn ready() -> (Setup, String, TestServer) {
    let s = setup();
    let group = hex::encode(s.ks.group.pubkey_x_only());
    let igloo = start_signer(&s);
    crate::common::wait_node_connected(&igloo.url("/api/status")).await;
    crate::common::wait_node_connected(&s.peer.url("/api/status")).await;
    (s, group, igloo)
}

/// Stops the signer and starts it again on the same data dir, with no login or API call:
/// returned once its node and its NIP-46 service are connected.
pub async fn restart(s: &Setup, igloo: TestServer) -> TestServer {
    igloo.stop().expect("clean stop");
    let igloo = start_signer(s);
    crate::common::wait_node_connected(&igloo.url("/api/status")).await;
    wait_transport_connected(&igloo).await;
    igloo
}

/// A nostr-tools app paired through a fresh `bunker://` URI of `srv`: the app, its client
/// key (hex) and the URI.
pub async fn pair_bunker(srv: &TestServer) -> (Js, String, String) {
    let uri = api(srv, Method::POST, "/api/nip46/bunker", None).await["uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    // An unused secret is what makes an idle signer listen.
    wait_transport_connected(srv).await;
    let mut app = Js::start();
    let r = app.cmd(json!({"op": "bunker", "uri": uri, "timeout": 20000}));
    let client = r["client"]
        .as_str()
        .unwrap_or_else(|| panic!("connect: {r}"))
        .to_owned();
    (app, client, uri)
}

/// `POST /api/nip46/requests {id, action}` (`approve` or `deny`): the status and the body.
pub async fn decide(srv: &TestServer, id: &Value, action: &str) -> (u16, Value) {
    let body = json!({"id": id, "action": action});
    let (code, v, _) = call(srv, Method::POST, "/api/nip46/requests", None, Some(body)).await;
    (code, v)
}

/// Waits for `client`'s pending `sign_event` of `kind` showing `preview`, and approves it:
/// the pending record.
pub async fn approve_sign(srv: &TestServer, client: &str, kind: u16, preview: &str) -> Value {
    let p = pending_for(srv, client).await;
    assert_eq!(p["method"], json!("sign_event"), "{p}");
    assert_eq!(p["kind"], json!(kind), "{p}");
    assert_eq!(p["preview"], json!(preview), "{p}");
    let d = decide_ok(srv, &p["id"], "approve").await;
    assert_eq!(d["status"], json!("approved"), "{d}");
    p
}

/// [`decide`], which must succeed: the answer's request record.
pub async fn decide_ok(srv: &TestServer, id: &Value, action: &str) -> Value {
    let (code, v) = decide(srv, id, action).await;
    assert_eq!(code, 200, "{action} {id}: {v}");
    v["request"].clone()
}
