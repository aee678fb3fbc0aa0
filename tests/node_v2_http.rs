//! One node, either protocol: a daemon whose supervisor runs a V2 node (`apply_v2`) answers
//! `/api/status` (protocol v2), `/api/peers`, ping, `/api/sign` and NIP-44 with the same
//! paths and shapes as for v1. Its peer is an in-process V2 node; the relay is a TestServer.

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{TestServer, client};
use igloo::config::{Cli, Config};
use igloo::frostr_v2::keyset::generate;
use igloo::node::v2::{self, V2Options};
use k256::schnorr::{Signature, VerifyingKey};
use nostr::prelude::{Keys, PublicKey, SecretKey};
use serde_json::{Value, json};

/// The daemon on 127.0.0.1:0 in its own thread and runtime, switched to V2 before serving.
struct V2Daemon {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _tmp: tempfile::TempDir,
}

impl V2Daemon {
    fn start(
        group: igloo::frostr_v2::GroupPackage,
        share: igloo::frostr_v2::ShareSecret,
        relay: String,
    ) -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let args = [
            "igloo",
            "--host-name",
            "127.0.0.1",
            "--db-path",
            &tmp.path().join("data").display().to_string(),
            "--auth-enabled",
            "false",
            "--relay-enabled",
            "false",
        ]
        .map(str::to_owned);
        let cli = Cli::try_parse_from(args).expect("args");
        let config = Config::from_settings(cli.settings).expect("config");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let daemon = igloo::daemon::start_with_notifier(
                    config,
                    listener,
                    igloo::systemd::Notifier::disabled(),
                )
                .await
                .expect("daemon starts");
                daemon
                    .supervisor()
                    .apply_v2(Some((group, share)), vec![relay], Duration::from_secs(10))
                    .expect("V2 node starts");
                addr_tx
                    .send(daemon.local_addr().expect("addr"))
                    .expect("send");
                daemon
                    .serve(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("daemon address");
        Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            _tmp: tmp,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for V2Daemon {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn get(d: &V2Daemon, path: &str) -> Value {
    client()
        .get(d.url(path))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

async fn post(d: &V2Daemon, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(d.url(path))
        .json(&body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_running_v2_signs_pings_and_encrypts_over_the_api() {
    let ks = generate("api", 2, 3, &mut rand::thread_rng()).expect("keyset");
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let d = V2Daemon::start(ks.group.clone(), ks.shares[0].clone(), relay_url.clone());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut opts = V2Options::new(Duration::from_secs(10));
    opts.ping_interval = None;
    let peer = v2::start(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![relay_url],
        opts,
        stop_rx,
    )
    .expect("peer node");

    let status = get(&d, "/api/status").await;
    assert_eq!(status["protocol"], json!("v2"), "{status}");
    assert_eq!(status["nodeActive"], json!(true), "{status}");

    // Ping through the API until the peer answers (nonces are exchanged on the way).
    let target = hex::encode(peer.self_xonly());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = post(&d, "/api/peers/ping", json!({ "target": target })).await;
        assert_eq!(code, 200, "{body}");
        if body["success"] == json!(true) {
            assert_eq!(body["status"]["online"], json!(true));
            assert_eq!(body["pubkey"], json!(target), "the target as given");
            break;
        }
        assert!(Instant::now() < deadline, "peer never answered: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let peers = get(&d, "/api/peers").await;
    assert_eq!(peers["total"], json!(2), "{peers}");
    let group = get(&d, "/api/peers/group").await;
    assert_eq!(group["pubkey"], json!(hex::encode(ks.group.group_pk)));
    assert_eq!(group["threshold"], json!(2));
    let me = get(&d, "/api/peers/self").await;
    assert_eq!(
        me["pubkey"],
        json!(hex::encode(&ks.shares[0].pubkey()[1..])),
        "x-only, as igloo-server"
    );

    // Sign: the signature verifies under the group key.
    let msg: [u8; 32] = rand::random();
    let (code, body) = post(&d, "/api/sign", json!({ "message": hex::encode(msg) })).await;
    assert_eq!(code, 200, "{body}");
    let sig = hex::decode(body["signature"].as_str().expect("signature")).expect("hex");
    let vk = VerifyingKey::from_bytes(&ks.group.group_pk).expect("group key");
    let sig = Signature::try_from(sig.as_slice()).expect("sig");
    assert!(
        vk.verify_raw(&msg, &sig).is_ok(),
        "valid under the group key"
    );
    assert!(vk.verify_raw(&[0u8; 32], &sig).is_err(), "check can fail");

    // NIP-44 through threshold ECDH: a third party decrypts with its own key.
    let other = Keys::new(SecretKey::from_slice(&rand::random::<[u8; 32]>()).expect("sk"));
    let group_pk = PublicKey::from_slice(&ks.group.group_pk).expect("group pk");
    let (code, body) = post(
        &d,
        "/api/nip44/encrypt",
        json!({ "peer_pubkey": other.public_key().to_hex(), "content": "hello v2" }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let ct = body["result"].as_str().expect("result");
    assert_eq!(
        nostr::nips::nip44::decrypt(other.secret_key(), &group_pk, ct).expect("decrypts"),
        "hello v2"
    );
}
