//! The health runner and watchdog over a V2 node, and V2 credentials from the environment
//! opened once. The daemon runs headless with a V2 `bfshare` in SHARE_CRED and short
//! NODE_HEALTH_* timers; its peer is an in-process V2 node. The daemon reaches the relay
//! through a small TCP proxy the test can silence (the peer connects to the relay directly).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{TestServer, client};
use igloo::config::{Cli, Config};
use igloo::frostr_v2::credentials::{KdfParams, SharePackage, encode_share};
use igloo::frostr_v2::keyset::{Keyset, generate};
use igloo::node::Supervisor;
use igloo::node::v2::{self, AnyNode, V2Handle, V2Options};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const PASSWORD: &str = "correct horse battery staple";

/// Forwards TCP connections to `target` until silenced: then it cuts every open connection
/// and drops new ones at once (a relay that went away), until heard again.
struct Proxy {
    addr: SocketAddr,
    silent: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (silent, rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *rx.borrow() {
                    continue; // dropped: the connection closes at once
                }
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        Proxy { addr, silent }
    }

    fn set_silent(&self, silent: bool) {
        self.silent.send_replace(silent);
    }
}

/// The daemon on 127.0.0.1:0 in its own thread and runtime (as in production).
struct Daemon {
    addr: SocketAddr,
    supervisor: Supervisor,
    control: igloo::control::Control,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _tmp: tempfile::TempDir,
}

impl Daemon {
    fn start(config: Config, tmp: tempfile::TempDir) -> Daemon {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let daemon = igloo::daemon::start_with_notifier(
                    config,
                    listener,
                    igloo::systemd::Notifier::disabled(),
                )
                .await
                .expect("daemon starts");
                tx.send((
                    daemon.local_addr().expect("addr"),
                    daemon.supervisor(),
                    daemon.control(),
                ))
                .expect("send");
                daemon
                    .serve(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let (addr, supervisor, control) = rx.recv().expect("daemon reports");
        Daemon {
            addr,
            supervisor,
            control,
            stop: Some(stop_tx),
            thread: Some(thread),
            _tmp: tmp,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn status(&self) -> Value {
        client()
            .get(self.url("/api/status"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json")
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = client()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("post");
        (r.status().as_u16(), r.json().await.expect("json"))
    }

    /// Pings `peer` through the API until it answers (or panics after `within`).
    async fn ping_until_ok(&self, peer: &[u8; 32], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (code, body) = self
                .post("/api/peers/ping", json!({ "target": hex::encode(peer) }))
                .await;
            assert_eq!(code, 200, "{body}");
            if body["success"] == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "peer never answered: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn generation(&self) -> u64 {
        *self.supervisor.generation().borrow()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A headless configuration with member 0's `bfshare` (relays: `relay`) in SHARE_CRED.
fn headless_config(ks: &Keyset, relay: &str, data: &std::path::Path, extra: &[&str]) -> Config {
    let package = encode_share(
        &SharePackage {
            share_secret: ks.shares[0].secret.clone(),
            relays: vec![relay.to_owned()],
        },
        PASSWORD,
        KdfParams::FLOOR,
        &mut rand::thread_rng(),
    )
    .expect("bfshare");
    let mut args: Vec<String> = [
        "igloo",
        "--host-name",
        "127.0.0.1",
        "--db-path",
        &data.display().to_string(),
        "--auth-enabled",
        "false",
        "--relay-enabled",
        "false",
        "--headless",
        "true",
        "--relays",
        relay,
        "--share-cred",
        package.as_str(),
        "--share-password",
        PASSWORD,
        "--group-cred",
        &ks.group.to_json(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(args).expect("args");
    let config = Config::from_settings(cli.settings).expect("config");
    assert!(config.v2_credentials.is_some(), "SHARE_CRED selects V2");
    config
}

fn peer(ks: &Keyset, i: usize, relay: &str) -> (V2Handle, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    let mut opts = V2Options::new(Duration::from_secs(10));
    opts.ping_interval = None;
    let h = v2::start(
        ks.group.clone(),
        ks.shares[i].clone(),
        vec![relay.to_owned()],
        opts,
        rx,
    )
    .expect("peer node");
    (h, tx)
}

fn running_v2(sup: &Supervisor) -> bool {
    matches!(sup.current_any(), Some(AnyNode::V2(_)))
}

/// Polls `/api/status` every 100 ms until `pred` holds; returns that status.
async fn status_until(
    d: &Daemon,
    within: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = d.status().await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Short timers: keepalive after 0.6 s idle, unhealthy after 2 s, watchdog restart after
/// 3 s quiet plus a 0.5 s backoff delay.
const SHORT_HEALTH: &[&str] = &[
    "--node-health-check-interval",
    "200",
    "--node-health-keepalive-after",
    "600",
    "--node-health-unhealthy-after",
    "2000",
    "--node-health-restart-after",
    "3000",
    "--node-health-restart-delay",
    "500",
    "--connectivity-ping-timeout-ms",
    "1000",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_node_kept_alive_by_pings_then_restarted_by_the_watchdog_when_silent() {
    let ks = generate("health", 2, 3, &mut rand::thread_rng()).expect("keyset");
    let relay = TestServer::start(&[]);
    let proxy = Proxy::start(relay.addr).await;
    let via_proxy = format!("ws://{}", proxy.addr);
    let tmp = tempfile::tempdir().expect("tmp");
    let config = headless_config(&ks, &via_proxy, &tmp.path().join("data"), SHORT_HEALTH);
    let d = Daemon::start(config, tmp);
    let (p, _stop_p) = peer(&ks, 1, &format!("ws://{}", relay.addr));
    let me = ks.shares[0].peer_id();

    let s = status_until(&d, Duration::from_secs(20), "V2 node runs", |s| {
        s["nodeActive"] == json!(true)
    })
    .await;
    assert_eq!(s["protocol"], json!("v2"), "{s}");
    d.ping_until_ok(&p.self_xonly(), Duration::from_secs(30))
        .await;
    let first_generation = d.generation();

    // Phase 1: nobody asks the node anything for longer than the restart time; only the
    // health runner's keepalive pings (answered by the peer) keep it active.
    let quiet_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < quiet_until {
        let s = d.status().await;
        assert_eq!(s["health"]["isHealthy"], json!(true), "kept alive: {s}");
        assert_eq!(s["health"]["restartCount"], json!(0), "{s}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let s = d.status().await;
    assert!(s["health"]["lastHealthCheck"].is_string(), "{s}");
    assert_eq!(d.generation(), first_generation, "no restart while healthy");
    // The keepalive pings reached the peer: it saw this node within the last keepalive span.
    let seen = p
        .peers()
        .into_iter()
        .find(|x| x.xonly == me)
        .and_then(|x| x.last_seen)
        .map(|(at, _)| at.elapsed())
        .expect("the peer has heard from the node");
    assert!(
        seen < Duration::from_millis(1500),
        "last heard {seen:?} ago"
    );

    // Phase 2: the relay goes silent for the node. No activity → unhealthy in /api/status…
    proxy.set_silent(true);
    let s = status_until(&d, Duration::from_secs(10), "reported unhealthy", |s| {
        s["health"]["isHealthy"] == json!(false)
    })
    .await;
    assert_eq!(s["health"]["isConnected"], json!(false), "{s}");
    // …then the watchdog restarts the node: a new generation, still V2.
    let s = status_until(&d, Duration::from_secs(15), "watchdog restart", |s| {
        s["health"]["restartCount"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    assert!(d.generation() > first_generation, "a new node: {s}");
    assert!(running_v2(&d.supervisor), "the restarted node is V2");

    // Phase 3: the relay is back; the restarted node connects and answers again.
    proxy.set_silent(false);
    d.ping_until_ok(&p.self_xonly(), Duration::from_secs(30))
        .await;
    let s = status_until(&d, Duration::from_secs(10), "healthy again", |s| {
        s["health"]["isHealthy"] == json!(true) && s["health"]["isConnected"] == json!(true)
    })
    .await;
    assert_eq!(s["protocol"], json!("v2"), "{s}");
    let msg: [u8; 32] = rand::random();
    let (code, body) = d
        .post("/api/sign", json!({ "message": hex::encode(msg) }))
        .await;
    assert_eq!(code, 200, "the restarted node signs: {body}");
}

/// SHARE_CRED is opened (Argon2id) once: node reloads (a saved setting) reuse it (watchdog
/// restarts reuse the running credentials, see the test above), and the node still runs the same V2 share afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_v2_package_is_decrypted_once_across_node_reloads() {
    let ks = generate("once", 2, 3, &mut rand::thread_rng()).expect("keyset");
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().expect("tmp");
    let config = headless_config(&ks, &url, &tmp.path().join("data"), &[]);
    assert!(config.v2_credentials.is_some(), "V2 env credentials");
    let d = Daemon::start(config, tmp);
    // The daemon's control layer holds the opened-package cache (one per daemon).
    let opened = d.control.env_v2().clone();
    let (p, _stop_p) = peer(&ks, 1, &url);
    status_until(&d, Duration::from_secs(20), "V2 node runs", |s| {
        s["nodeActive"] == json!(true) && s["protocol"] == json!("v2")
    })
    .await;
    assert_eq!(opened.openings(), 1, "opened at start-up");

    // A setting whose change reloads the node: the credentials are loaded again.
    for (i, timeout) in ["15000", "20000", "25000"].into_iter().enumerate() {
        let before = d.generation();
        let (code, body) = d
            .post("/api/env", json!({ "FROSTR_SIGN_TIMEOUT": timeout }))
            .await;
        assert_eq!(code, 200, "{body}");
        assert!(d.generation() > before, "reload {i} restarted the node");
        assert!(running_v2(&d.supervisor), "still V2 after reload {i}");
    }
    assert_eq!(opened.openings(), 1, "no second Argon2id derivation");

    let node = d.supervisor.current_any().expect("node runs");
    assert_eq!(node.self_xonly(), ks.shares[0].peer_id(), "same share");
    d.ping_until_ok(&p.self_xonly(), Duration::from_secs(30))
        .await;
    let msg: [u8; 32] = rand::random();
    let (code, body) = d
        .post("/api/sign", json!({ "message": hex::encode(msg) }))
        .await;
    assert_eq!(code, 200, "signs after the reloads: {body}");
}
