//! Faults an appliance meets, each bounded in time and on 127.0.0.1 only: a panic in a node's
//! receive loop (v1 and V2), a store write that fails for want of space, power loss during
//! writes, relay drops and a slow relay, clock jumps, peer restarts.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use igloo::config::Backoff;
use igloo::events::EventBus;
use igloo::node::health::{self, HealthSettings};
use igloo::node::v2::{self as v2node, AnyNode, V2Options};
use igloo::node::{NodeError, Supervisor};
use tokio::sync::watch;

async fn wait_until(what: &str, within: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Health timers that restart a dead node within a few hundred milliseconds.
fn fast_health() -> HealthSettings {
    let backoff = Backoff {
        initial: Duration::from_millis(200),
        multiplier: 2.0,
        max_delay: Duration::from_secs(2),
        max_attempts: 5,
    };
    HealthSettings {
        check_interval: Duration::from_millis(100),
        keepalive_after: Duration::from_secs(60),
        unhealthy_after: Duration::from_secs(120),
        restart_after: Duration::from_secs(300),
        ping_timeout: Duration::from_secs(5),
        health_restart: backoff.clone(),
        restart: backoff,
    }
}

/// A panic in the v1 receive loop stops the node: the request in flight fails at once (not
/// at its 30 s timeout), `is_running` turns false and the watchdog starts a new node that
/// works. Without the drop guard the flag stays true and the sign waits out its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_receive_loop_panic_fails_pending_and_the_watchdog_restarts_the_node() {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let sup = Supervisor::new(stop_rx.clone(), EventBus::new());
    let ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let node = sup
        .start(
            ks.group.clone(),
            ks.shares[0].clone(),
            vec![url],
            Duration::from_secs(30),
        )
        .expect("start");
    let (health_tx, _health_rx) = watch::channel(true);
    let _runner = health::spawn(sup.clone(), fast_health(), health_tx, stop_rx);
    wait_until("a relay connection", Duration::from_secs(10), async || {
        node.is_connected()
    })
    .await;
    let generation = *sup.generation().borrow();

    // No peer runs: this sign would wait its whole 30 s timeout.
    let inflight = tokio::spawn({
        let n = node.clone();
        async move { n.sign([9u8; 32]).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    node.inject_receive_panic();
    // Our own echo comes back through the relay: the receive loop panics on it.
    let started = Instant::now();
    let echo = node.echo(Duration::from_secs(10)).await;
    assert!(matches!(echo, Err(NodeError::Stopped)), "{echo:?}");
    let res = tokio::time::timeout(Duration::from_secs(3), inflight)
        .await
        .expect("the pending sign fails promptly, not at its 30 s timeout")
        .expect("task");
    assert!(matches!(res, Err(NodeError::Stopped)), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!node.is_running(), "a panicked node is not running");

    wait_until("the watchdog restart", Duration::from_secs(5), async || {
        *sup.generation().borrow() > generation && sup.current().is_some()
    })
    .await;
    let fresh = sup.current().expect("a new node");
    assert!(fresh.is_running());
    wait_until(
        "the new node's relay",
        Duration::from_secs(10),
        async || fresh.is_connected(),
    )
    .await;
    fresh
        .echo(Duration::from_secs(10))
        .await
        .expect("the restarted node works");
}

/// The same for a V2 node: a peer's pong arrives, the loop panics on it, the ping in flight
/// fails at once, the watchdog restarts the node and it pings the peer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_receive_loop_panic_fails_pending_and_the_watchdog_restarts_the_node() {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let sup = Supervisor::new(stop_rx.clone(), EventBus::new());
    let ks = igloo::frostr_v2::keyset::generate("faults", 2, 2, &mut rand::thread_rng())
        .expect("V2 keyset");
    let mut opts = V2Options::new(Duration::from_secs(10));
    opts.ping_interval = None;
    let (_peer_stop, peer_rx) = watch::channel(false);
    let peer = v2node::start(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![url.clone()],
        opts,
        peer_rx,
    )
    .expect("peer");
    let node = sup
        .start_v2(
            ks.group.clone(),
            ks.shares[0].clone(),
            vec![url],
            Duration::from_secs(10),
        )
        .expect("start V2");
    let node = AnyNode::V2(node);
    let (health_tx, _health_rx) = watch::channel(true);
    let _runner = health::spawn(sup.clone(), fast_health(), health_tx, stop_rx);
    wait_until("relay connections", Duration::from_secs(10), async || {
        node.is_connected() && peer.is_connected()
    })
    .await;
    let peer_id = peer.self_xonly();
    let generation = *sup.generation().borrow();
    node.ping(&peer_id, Duration::from_secs(5))
        .await
        .expect("a first ping works");

    node.inject_receive_panic();
    let started = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(3),
        node.ping(&peer_id, Duration::from_secs(10)),
    )
    .await
    .expect("the ping in flight fails promptly, not at its 10 s timeout");
    assert!(matches!(res, Err(NodeError::Stopped)), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!node.is_running());

    wait_until("the watchdog restart", Duration::from_secs(5), async || {
        *sup.generation().borrow() > generation && sup.current_any().is_some_and(|n| n.is_running())
    })
    .await;
    let fresh = sup.current_any().expect("a new node");
    wait_until(
        "the new node's relay",
        Duration::from_secs(10),
        async || fresh.is_connected(),
    )
    .await;
    fresh
        .ping(&peer_id, Duration::from_secs(5))
        .await
        .expect("the restarted V2 node pings its peer");
}

// ---------------------------------------------------------------------------------------------
// The daemon as a process (the built binary), for faults that need one: a file-size limit
// (disk full) and SIGKILL (power loss).

use common::daemon as proc;

/// The status of a request, or None when no answer came (the daemon was killed).
async fn try_status(method: reqwest::Method, url: &str, body: serde_json::Value) -> Option<u16> {
    let r = common::client()
        .request(method, url)
        .timeout(Duration::from_secs(10))
        .json(&body)
        .send()
        .await
        .ok()?;
    let code = r.status().as_u16();
    r.bytes().await.ok()?;
    Some(code)
}

async fn http_json(
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = common::client()
        .request(method, url)
        .timeout(Duration::from_secs(10));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("an HTTP answer, not a hang");
    let code = r.status().as_u16();
    let text = r.text().await.expect("body");
    let v =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got {code}: {text:?}"));
    (code, v)
}

fn v1_daemon_env(ks: &igloo::frostr::keyset::Keyset, relay: &str) -> Vec<(&'static str, String)> {
    use igloo::frostr::credentials::{encode_group, encode_share};
    vec![
        ("HEADLESS", "true".into()),
        ("AUTH_ENABLED", "false".into()),
        ("RELAY_ENABLED", "false".into()),
        ("GROUP_CRED", encode_group(&ks.group)),
        ("SHARE_CRED", encode_share(&ks.shares[0]).to_string()),
        ("RELAYS", relay.to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Disk full: the daemon's file-size limit drops to zero, so every store write fails (EFBIG,
/// as ENOSPC on a full card). The API answers a clear JSON 503, the node still answers a
/// peer's ping (no write needed), a sign request from a capped peer gets no partial (its count
/// cannot be made durable); once the limit is lifted the same process writes again (the store
/// re-opens itself), the peer signs, and after a clean stop the store opens with every write.
/// Without the re-open, redb refuses every later transaction ("Previous I/O error") until a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_fails_writes_cleanly_withholds_capped_partials_and_recovers_without_restart() {
    use igloo::frostr::types::x_only;
    use reqwest::Method;
    use serde_json::json;

    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = v1_daemon_env(&ks, &url);
    let d = proc::Daemon::spawn(tmp.path(), &as_refs(&env));
    common::wait_node_connected(&d.url("/api/status")).await;

    let (_peer_stop, peer_rx) = watch::channel(false);
    let peer = igloo::node::start_with(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![url.clone()],
        Duration::from_secs(3),
        peer_rx,
    )
    .expect("peer");
    wait_until("the peer's relay", Duration::from_secs(10), async || {
        peer.is_connected()
    })
    .await;
    let me = x_only(&ks.shares[0].public_key());
    let peer_hex = hex::encode(x_only(&ks.shares[1].public_key()));
    // A cap: each partial's count is committed before the partial is sent.
    let (code, b) = http_json(
        Method::PUT,
        &d.url(&format!("/api/peers/{peer_hex}/policy")),
        Some(json!({"partialCap": 100})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    peer.sign([1u8; 32]).await.expect("signs before the fault");

    // The disk is full.
    d.set_file_size_limit(Some(0));
    let (code, b) = http_json(
        Method::POST,
        &d.url("/api/env"),
        Some(json!({"RATE_LIMIT_MAX": 4321})),
    )
    .await;
    assert_eq!(code, 503, "{b}");
    assert_eq!(b["code"], "STORE_UNAVAILABLE", "{b}");
    assert!(
        b["error"].as_str().is_some_and(|m| m.contains("disk")),
        "{b}"
    );
    // Still failing on a second try (redb now refuses everything), still clean JSON.
    let (code, b) = http_json(
        Method::PUT,
        &d.url(&format!("/api/peers/{peer_hex}/policy")),
        Some(json!({"partialCap": 50})),
    )
    .await;
    assert!(code >= 500, "{code} {b}");
    assert!(b["code"].is_string(), "{b}");
    // Peers are still answered where nothing is written…
    peer.ping(&me, Duration::from_secs(5))
        .await
        .expect("ping answered on a full disk");
    let (code, s) = http_json(Method::GET, &d.url("/api/status"), None).await;
    assert_eq!(code, 200, "{s}");
    // …but no partial goes out whose count cannot be made durable (2-of-2: the daemon is the
    // only peer that could answer).
    let res = peer.sign([2u8; 32]).await;
    assert!(
        res.is_err(),
        "a partial was sent with its count not durable"
    );
    // The request did arrive: the daemon refused it because the count could not be written.
    wait_until(
        "the refusal in the log",
        Duration::from_secs(5),
        async || {
            d.log()
                .contains("could not be recorded, so it was not sent")
        },
    )
    .await;

    // Space returns: the same process works again, no restart.
    d.set_file_size_limit(None);
    let (code, b) = http_json(
        Method::POST,
        &d.url("/api/env"),
        Some(json!({"RATE_LIMIT_MAX": 4321})),
    )
    .await;
    assert_eq!(code, 200, "the store recovers without a restart: {b}");
    peer.sign([3u8; 32])
        .await
        .expect("signs again once space returns");
    let log = d.log();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(d.terminate(), Some(0));

    let store = igloo::store::Store::open(&tmp.path().join("data")).expect("store opens cleanly");
    assert_eq!(
        store
            .get_setting("env.rate_limit_max")
            .expect("read")
            .as_deref(),
        Some(&b"4321"[..])
    );
    let gid = igloo::frostr::credentials::group_id(&ks.group);
    let counts = store.load_partial_counts(&gid).expect("counts");
    let issued = counts
        .get(&x_only(&ks.shares[1].public_key()))
        .copied()
        .unwrap_or(0);
    assert!(issued >= 2, "both partials issued are counted: {issued}");
}

/// Power loss: SIGKILL the daemon at a random moment while it acknowledges one kind of write
/// after another (settings through /api/env, credentials through /api/env/shares, a peer
/// policy, partial-signature counts under a cap), 20 rounds in all. After each kill the store
/// opens and holds every acknowledged write (at most the one write in flight more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_keeps_every_acknowledged_write() {
    use igloo::frostr::credentials::{encode_group, encode_share, group_id};
    use igloo::frostr::types::x_only;
    use rand::Rng;
    use reqwest::Method;
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const ROUNDS: usize = 20;
    let started = Instant::now();
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let peer_x = x_only(&ks.shares[1].public_key());
    let peer_hex = hex::encode(peer_x);
    let gid = group_id(&ks.group);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_peer_stop, peer_rx) = watch::channel(false);
    let peer = igloo::node::start_with(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![url.clone()],
        Duration::from_secs(3),
        peer_rx,
    )
    .expect("peer");
    // Keysets for the credential rounds: write i stores keyset i.
    let cred_sets: Vec<_> = (0..64)
        .map(|_| igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("ks"))
        .collect();
    let mut setting_acked = 0u64;
    let mut policy_acked = 0u64;
    let mut signs_acked = 0u64;
    let mut cred_acked: Option<u64> = None;
    let mut cred_base = 0u64;
    let mut total_acked = 0u64;

    for round in 0..ROUNDS {
        let kind = round % 4;
        let dir = tmp
            .path()
            .join(["settings", "creds", "policy", "counts"][kind]);
        std::fs::create_dir_all(&dir).expect("dir");
        let mut env = vec![
            ("HEADLESS", "true".to_owned()),
            ("AUTH_ENABLED", "false".into()),
            ("RELAY_ENABLED", "false".into()),
            ("RELAYS", url.clone()),
            ("RATE_LIMIT_ENABLED", "false".into()),
        ];
        if kind != 1 {
            env.push(("GROUP_CRED", encode_group(&ks.group)));
            env.push(("SHARE_CRED", encode_share(&ks.shares[0]).to_string()));
        }
        let d = proc::Daemon::spawn(&dir, &as_refs(&env));
        if kind == 3 {
            common::wait_node_connected(&d.url("/api/status")).await;
            let (code, b) = http_json(
                Method::PUT,
                &d.url(&format!("/api/peers/{peer_hex}/policy")),
                Some(json!({"partialCap": 1_000_000})),
            )
            .await;
            assert_eq!(code, 200, "{b}");
        }
        let acked = Arc::new(AtomicU64::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn({
            let acked = acked.clone();
            let killed = killed.clone();
            let failed = failed.clone();
            let base = d.url("");
            let peer = peer.clone();
            let peer_hex = peer_hex.clone();
            let cred_pairs: Vec<(String, String)> = cred_sets
                .iter()
                .map(|k| {
                    (
                        encode_group(&k.group),
                        encode_share(&k.shares[0]).to_string(),
                    )
                })
                .collect();
            async move {
                for i in 1u64.. {
                    let ok = match kind {
                        0 => {
                            try_status(
                                Method::POST,
                                &format!("{base}/api/env"),
                                json!({"RATE_LIMIT_MAX": 1000 + setting_acked + i}),
                            )
                            .await
                                == Some(200)
                        }
                        1 => {
                            let n = usize::try_from(cred_base + i).expect("n") % cred_pairs.len();
                            let (g, s) = &cred_pairs[n];
                            try_status(
                                Method::POST,
                                &format!("{base}/api/env/shares"),
                                json!({"groupCredential": g, "shareCredential": s}),
                            )
                            .await
                                == Some(200)
                        }
                        2 => {
                            try_status(
                                Method::PUT,
                                &format!("{base}/api/peers/{peer_hex}/policy"),
                                json!({"note": format!("n{}", policy_acked + i)}),
                            )
                            .await
                                == Some(200)
                        }
                        _ => peer
                            .sign([u8::try_from(i % 250).expect("byte"); 32])
                            .await
                            .is_ok(),
                    };
                    if !ok {
                        // Only the kill may end the writes.
                        if !killed.load(Ordering::SeqCst) {
                            failed.store(i, Ordering::SeqCst);
                        }
                        return;
                    }
                    acked.store(i, Ordering::SeqCst);
                }
            }
        });
        // Let a few writes through, then cut the power at a random moment.
        let wait_first = Instant::now();
        while acked.load(Ordering::SeqCst) == 0 {
            assert!(
                wait_first.elapsed() < Duration::from_secs(10),
                "no write acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ms = rand::thread_rng().gen_range(20..400);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        killed.store(true, Ordering::SeqCst);
        d.kill9();
        // The writer may see its request in flight fail: that write was never acknowledged.
        writer.abort();
        let _ = writer.await;
        let n = acked.load(Ordering::SeqCst);
        assert_eq!(
            failed.load(Ordering::SeqCst),
            0,
            "round {round}: a write of kind {kind} failed before the kill"
        );
        total_acked += n;

        let data = dir.join("data");
        match kind {
            0 => {
                setting_acked += n;
                let store = igloo::store::Store::open(&data).expect("store opens after SIGKILL");
                let v: u64 = String::from_utf8(
                    store
                        .get_setting("env.rate_limit_max")
                        .expect("read")
                        .expect("set"),
                )
                .expect("utf8")
                .parse()
                .expect("number");
                assert!(
                    v == 1000 + setting_acked || v == 1000 + setting_acked + 1,
                    "round {round}: stored {v}, acknowledged {}",
                    1000 + setting_acked
                );
                setting_acked = v - 1000;
            }
            1 => {
                let last = cred_base + n;
                cred_acked = Some(last);
                drop(igloo::store::Store::open(&data).expect("store opens after SIGKILL"));
                // The daemon starts from what was stored: the last acknowledged pair (or the
                // one in flight).
                let d = proc::Daemon::spawn(&dir, &as_refs(&env));
                let (code, b) = http_json(Method::GET, &d.url("/api/peers/self"), None).await;
                assert_eq!(code, 200, "{b}");
                let key = b["pubkey"].as_str().expect("pubkey").to_owned();
                let found = (last..=last + 1).find(|n| {
                    let k = &cred_sets[usize::try_from(*n).expect("n") % cred_sets.len()];
                    hex::encode(x_only(&k.shares[0].public_key())) == key
                });
                let found = found.unwrap_or_else(|| {
                    panic!("round {round}: stored credentials are not the acknowledged ones")
                });
                cred_base = found;
                d.kill9();
            }
            2 => {
                policy_acked += n;
                let store = igloo::store::Store::open(&data).expect("store opens after SIGKILL");
                let p = store.load_peer_policies(&gid).expect("policies");
                let note = p.get(&peer_x).and_then(|p| p.note.clone()).expect("a note");
                let v: u64 = note.trim_start_matches('n').parse().expect("number");
                assert!(
                    v == policy_acked || v == policy_acked + 1,
                    "round {round}: stored note {v}, acknowledged {policy_acked}"
                );
                policy_acked = v;
            }
            _ => {
                signs_acked += n;
                let store = igloo::store::Store::open(&data).expect("store opens after SIGKILL");
                let counts = store.load_partial_counts(&gid).expect("counts");
                let c = counts.get(&peer_x).copied().unwrap_or(0);
                assert!(
                    c >= signs_acked,
                    "round {round}: {c} partials counted, {signs_acked} signatures completed"
                );
                signs_acked = c;
            }
        }
    }
    assert!(cred_acked.is_some());
    eprintln!(
        "{ROUNDS} SIGKILLs, {total_acked} acknowledged writes checked in {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "bounded: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Relay faults: two relays, the daemon reaches each through a proxy the test controls; the peer
// reaches both directly.

struct TwoRelays {
    _relays: [TestServer; 2],
    proxies: [common::proxy::RelayProxy; 2],
    direct: [String; 2],
}

impl TwoRelays {
    async fn start() -> TwoRelays {
        let a = TestServer::start(&[]);
        let b = TestServer::start(&[]);
        let pa = common::proxy::RelayProxy::start(a.addr).await;
        let pb = common::proxy::RelayProxy::start(b.addr).await;
        let direct = [format!("ws://{}", a.addr), format!("ws://{}", b.addr)];
        TwoRelays {
            _relays: [a, b],
            proxies: [pa, pb],
            direct,
        }
    }

    fn proxied(&self) -> String {
        format!("{},{}", self.proxies[0].url(), self.proxies[1].url())
    }
}

/// The daemon with share 0 behind both proxies (sign timeout 4 s).
fn relay_fault_daemon(ks: &igloo::frostr::keyset::Keyset, relays: &TwoRelays) -> TestServer {
    use igloo::frostr::credentials::{encode_group, encode_share};
    TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &encode_group(&ks.group),
        "--share-cred",
        &encode_share(&ks.shares[0]),
        "--relays",
        &relays.proxied(),
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "4000",
    ])
}

async fn relay_states(d: &TestServer) -> Vec<serde_json::Value> {
    let s = common::get_json(&d.url("/api/status")).await;
    s["relayStates"].as_array().expect("relayStates").clone()
}

/// Polls `/api/status` until relay `i` satisfies `pred`; returns its state.
async fn relay_state_until(
    d: &TestServer,
    i: usize,
    within: Duration,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let states = relay_states(d).await;
        if pred(&states[i]) {
            return states[i].clone();
        }
        assert!(Instant::now() < deadline, "{what}: {states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_sign(d: &TestServer, msg: [u8; 32]) -> (u16, serde_json::Value) {
    http_json(
        reqwest::Method::POST,
        &d.url("/api/sign"),
        Some(serde_json::json!({ "message": hex::encode(msg) })),
    )
    .await
}

fn sig_verifies(group: &igloo::frostr::GroupPackage, msg: &[u8; 32], sig_hex: &str) -> bool {
    xonly_sig_verifies(&igloo::frostr::types::x_only(&group.group_pk), msg, sig_hex)
}

/// A BIP-340 signature (hex) of `msg` under the x-only key `group_x`.
fn xonly_sig_verifies(group_x: &[u8; 32], msg: &[u8; 32], sig_hex: &str) -> bool {
    use k256::schnorr::signature::hazmat::PrehashVerifier;
    let (Ok(vk), Ok(bytes)) = (
        k256::schnorr::VerifyingKey::from_bytes(group_x),
        hex::decode(sig_hex),
    ) else {
        return false;
    };
    k256::schnorr::Signature::try_from(bytes.as_slice())
        .and_then(|s| vk.verify_prehash(msg, &s))
        .is_ok()
}

/// Waits for the peer's approval queue to hold a request, then returns its id.
async fn queued_sign(peer: &igloo::node::NodeHandle) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(p) = peer.pending_signs().first() {
            return p.id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the sign request reached the peer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A relay drops while a signature is in flight (the peer holds the request for approval, the
/// test cuts relay A, then approves): the signature completes over relay B; `/api/status` shows
/// A down with its error, reconnection attempts are spaced by backoff, and A is back after it
/// returns. With both relays cut mid-sign, the request fails within the sign timeout with a
/// clear JSON error; once both return, signing works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_drop_mid_sign_completes_over_the_other_relay_and_reconnects_with_backoff() {
    use common::proxy::Mode;
    let relays = TwoRelays::start().await;
    let ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let d = relay_fault_daemon(&ks, &relays);
    let (_peer_stop, peer_rx) = watch::channel(false);
    let peer = igloo::node::start_guarded(
        ks.group.clone(),
        ks.shares[1].clone(),
        relays.direct.to_vec(),
        Duration::from_secs(10),
        igloo::node::GuardConfig {
            store: None,
            sign_policy: igloo::node::SignPolicy::Approve,
            seeds: Vec::new(),
        },
        peer_rx,
    )
    .expect("peer");
    for i in 0..2 {
        relay_state_until(&d, i, Duration::from_secs(10), "connected", |s| {
            s["connected"] == true
        })
        .await;
    }
    wait_until("the peer's relays", Duration::from_secs(10), async || {
        peer.relay_states().iter().all(|s| s.connected)
    })
    .await;

    // 1. Relay A drops mid-sign: the signature completes over B.
    let msg1 = [0x11u8; 32];
    let started = Instant::now();
    let signing = tokio::spawn({
        let url = d.url("/api/sign");
        async move {
            let r = common::client()
                .post(url)
                .json(&serde_json::json!({ "message": hex::encode(msg1) }))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("answer");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.expect("json"),
            )
        }
    });
    let id = queued_sign(&peer).await;
    relays.proxies[0].set(Mode::Drop);
    let a = relay_state_until(&d, 0, Duration::from_secs(3), "A reported down", |s| {
        s["connected"] == false
    })
    .await;
    assert!(a["lastError"].is_string(), "{a}");
    assert_eq!(relay_states(&d).await[1]["connected"], true);
    peer.approve_sign(&id).await.expect("approved");
    let (code, body) = signing.await.expect("task");
    assert_eq!(code, 200, "{body}");
    assert!(sig_verifies(
        &ks.group,
        &msg1,
        body["signature"].as_str().expect("sig")
    ));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "within the sign timeout"
    );

    // Backoff: over 3 s of outage, a handful of attempts, not a storm; still reported down.
    let refused0 = relays.proxies[0].refused();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = relays.proxies[0].refused() - refused0;
    assert!(
        (1..=4).contains(&attempts),
        "{attempts} reconnect attempts in 3 s"
    );
    let a = relay_states(&d).await[0].clone();
    assert_eq!(a["connected"], false, "{a}");
    let reconnects_down = a["reconnects"].as_u64().expect("reconnects");
    assert!(reconnects_down >= 2, "{a}");

    // A returns: reconnected within the backoff (at most 4 s + jitter by now).
    relays.proxies[0].set(Mode::Pass);
    let a = relay_state_until(&d, 0, Duration::from_secs(8), "A reconnected", |s| {
        s["connected"] == true
    })
    .await;
    assert!(a["lastError"].is_null(), "{a}");

    // 2. Both relays drop mid-sign: a clear error within the sign timeout, nothing hangs.
    let started = Instant::now();
    let signing = tokio::spawn({
        let url = d.url("/api/sign");
        async move {
            let r = common::client()
                .post(url)
                .json(&serde_json::json!({ "message": hex::encode([0x22u8; 32]) }))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("answer");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.expect("json"),
            )
        }
    });
    let id = queued_sign(&peer).await;
    relays.proxies[0].set(Mode::Drop);
    relays.proxies[1].set(Mode::Drop);
    for i in 0..2 {
        relay_state_until(&d, i, Duration::from_secs(3), "down", |s| {
            s["connected"] == false
        })
        .await;
    }
    let s = common::get_json(&d.url("/api/status")).await;
    assert_eq!(s["health"]["isConnected"], false, "{s}");
    peer.approve_sign(&id).await.expect("approved");
    let (code, body) = signing.await.expect("task");
    let took = started.elapsed();
    assert!(code >= 500, "{code} {body}");
    assert_eq!(body["code"], "SIGN_TIMEOUT", "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(
        took < Duration::from_secs(6),
        "failed within the 4 s sign timeout: {took:?}"
    );
    // A new request with no relay at all fails at once, clearly.
    let (code, body) = post_sign(&d, [0x33u8; 32]).await;
    assert!(code >= 500, "{code} {body}");
    assert!(body["code"].is_string(), "{body}");

    // 3. Both return: signing works again.
    relays.proxies[0].set(Mode::Pass);
    relays.proxies[1].set(Mode::Pass);
    for i in 0..2 {
        relay_state_until(&d, i, Duration::from_secs(10), "reconnected", |s| {
            s["connected"] == true
        })
        .await;
    }
    let signing = tokio::spawn({
        let url = d.url("/api/sign");
        async move {
            let r = common::client()
                .post(url)
                .json(&serde_json::json!({ "message": hex::encode([0x44u8; 32]) }))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("answer");
            r.status().as_u16()
        }
    });
    let id = queued_sign(&peer).await;
    peer.approve_sign(&id).await.expect("approved");
    assert_eq!(signing.await.expect("task"), 200);
}

/// Relay A delays every frame by 2 s both ways: signatures over B keep their latency (well
/// well under the 2 s delay), and `/api/status` reports A as slow (rttMs ≥ 2000, slow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_relay_does_not_slow_signing_and_is_reported() {
    use common::proxy::Mode;
    let relays = TwoRelays::start().await;
    relays.proxies[0].set(Mode::Delay(Duration::from_secs(2)));
    let ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let d = relay_fault_daemon(&ks, &relays);
    let (_peer_stop, peer_rx) = watch::channel(false);
    let _peer = igloo::node::start_with(
        ks.group.clone(),
        ks.shares[1].clone(),
        relays.direct.to_vec(),
        Duration::from_secs(10),
        peer_rx,
    )
    .expect("peer");
    relay_state_until(&d, 1, Duration::from_secs(10), "B connected", |s| {
        s["connected"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the peer subscribes
    let mut worst = Duration::ZERO;
    for i in 0..5u8 {
        let msg = [i + 1; 32];
        let t0 = Instant::now();
        let (code, body) = post_sign(&d, msg).await;
        worst = worst.max(t0.elapsed());
        assert_eq!(code, 200, "{body}");
        assert!(sig_verifies(
            &ks.group,
            &msg,
            body["signature"].as_str().expect("sig")
        ));
    }
    assert!(
        worst < Duration::from_millis(1900),
        "signing over the healthy relay stays fast: worst {worst:?}"
    );
    // A connects (its handshake crawls through the delay) and its first ping shows the delay.
    let a = relay_state_until(&d, 0, Duration::from_secs(15), "A reported slow", |s| {
        s["connected"] == true
            && s["slow"] == true
            && s["rttMs"].as_u64().is_some_and(|r| r >= 2000)
    })
    .await;
    let b = relay_states(&d).await[1].clone();
    assert_eq!(b["slow"], false, "{b}");
    eprintln!("slow relay: {a}; healthy relay: {b}; worst sign {worst:?}");
}

// ---------------------------------------------------------------------------------------------
// Peer restarts: the peer is the igloo binary, restarted cleanly (SIGTERM) and with kill -9;
// the daemon under test signs through it again within a bound. The delay from the restart to
// the first signature is measured.

/// Environment for the peer process (share `i`), v1 or V2.
fn peer_env(
    v2: Option<&igloo::frostr_v2::keyset::Keyset>,
    v1: &igloo::frostr::keyset::Keyset,
    i: usize,
    relay: &str,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("HEADLESS", "true".to_owned()),
        ("AUTH_ENABLED", "false".into()),
        ("RELAY_ENABLED", "false".into()),
        ("RELAYS", relay.to_owned()),
    ];
    match v2 {
        Some(ks) => {
            env.push(("GROUP_CRED", ks.group.to_json()));
            env.push(("SHARE_CRED", v2_package(ks, i, relay)));
            env.push(("SHARE_PASSWORD", V2_PASSWORD.into()));
        }
        None => {
            use igloo::frostr::credentials::{encode_group, encode_share};
            env.push(("GROUP_CRED", encode_group(&v1.group)));
            env.push(("SHARE_CRED", encode_share(&v1.shares[i]).to_string()));
        }
    }
    env
}

const V2_PASSWORD: &str = "correct horse battery staple";

fn v2_package(ks: &igloo::frostr_v2::keyset::Keyset, i: usize, relay: &str) -> String {
    use igloo::frostr_v2::credentials::{KdfParams, SharePackage, encode_share};
    encode_share(
        &SharePackage {
            share_secret: ks.shares[i].secret.clone(),
            relays: vec![relay.to_owned()],
        },
        V2_PASSWORD,
        KdfParams::FLOOR,
        &mut rand::thread_rng(),
    )
    .expect("bfshare")
    .to_string()
}

/// Signs through `/api/sign` until it works; the time that took.
async fn first_signature(d: &TestServer, within: Duration) -> Duration {
    let t0 = Instant::now();
    let mut n = 0u8;
    loop {
        n = n.wrapping_add(1);
        let (code, body) = post_sign(d, [n; 32]).await;
        if code == 200 {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "no signature within {within:?} after the peer restarted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn peer_restarts(v2: bool) -> Vec<(&'static str, Duration)> {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let v1ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("ks");
    let v2ks = igloo::frostr_v2::keyset::generate("faults", 2, 2, &mut rand::thread_rng())
        .expect("V2 keyset");
    let ours: Vec<(&'static str, String)> = peer_env(v2.then_some(&v2ks), &v1ks, 0, &url);
    let mut args: Vec<String> = Vec::new();
    for (k, v) in &ours {
        if *k == "AUTH_ENABLED" {
            continue; // TestServer sets it
        }
        args.push(format!("--{}", k.to_ascii_lowercase().replace('_', "-")));
        args.push(v.clone());
    }
    args.extend(["--frostr-sign-timeout".into(), "2000".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = TestServer::start(&refs);
    let tmp = tempfile::tempdir().expect("tmp");
    let env = peer_env(v2.then_some(&v2ks), &v1ks, 1, &url);
    let mut peer = proc::Daemon::spawn(tmp.path(), &as_refs(&env));
    first_signature(&d, Duration::from_secs(20)).await;
    let mut delays = Vec::new();
    for how in ["clean", "kill -9", "clean", "kill -9"] {
        let t0 = Instant::now();
        if how == "clean" {
            assert_eq!(peer.terminate(), Some(0));
        } else {
            peer.kill9();
        }
        peer = proc::Daemon::spawn(tmp.path(), &as_refs(&env));
        first_signature(&d, Duration::from_secs(20)).await;
        delays.push((how, t0.elapsed()));
    }
    delays
}

/// A v1 peer and a V2 peer restart twice cleanly and twice with kill -9: each time the daemon
/// signs through it again within 10 s (measured from the moment the peer went down, its
/// start-up included). Prints the delays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_peers_sign_again_within_a_bound() {
    for v2 in [false, true] {
        let delays = peer_restarts(v2).await;
        let worst = delays.iter().map(|(_, d)| *d).max().unwrap_or_default();
        eprintln!(
            "{} peer restarts, first signature after: {delays:?}; worst {worst:?}",
            if v2 { "V2" } else { "v1" }
        );
        assert!(worst < Duration::from_secs(10), "{delays:?}");
    }
}

/// A node of a 2-of-3 group (v1 or V2) on `url`, pinged only on request.
fn group_member(
    v1: &igloo::frostr::keyset::Keyset,
    v2: Option<&igloo::frostr_v2::keyset::Keyset>,
    i: usize,
    url: &str,
    timeout: Duration,
    stop: watch::Receiver<bool>,
) -> AnyNode {
    let relays = vec![url.to_owned()];
    match v2 {
        Some(ks) => {
            let mut opts = V2Options::new(timeout);
            opts.ping_interval = None;
            let n = v2node::start(ks.group.clone(), ks.shares[i].clone(), relays, opts, stop);
            AnyNode::V2(n.expect("V2 node"))
        }
        None => AnyNode::V1(
            igloo::node::start_with(
                v1.group.clone(),
                v1.shares[i].clone(),
                relays,
                timeout,
                stop,
            )
            .expect("v1 node"),
        ),
    }
}

/// A (2-of-3, peers B and C) last heard from B, so it asks B first; B goes down just before
/// A's sign request (its node stops, as in a restart). The signature still completes through
/// C within the sign timeout; B is then shown offline and the next request asks C first
/// (well within B's share of the timeout). Before, the request went to B alone and failed
/// at the timeout. Returns (first, second) sign durations.
async fn sign_while_the_chosen_peer_goes_down(v2: bool) -> (Duration, Duration) {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let v1ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 3, None).expect("ks");
    let v2ks = igloo::frostr_v2::keyset::generate("faults", 2, 3, &mut rand::thread_rng())
        .expect("V2 keyset");
    let v2ks = v2.then_some(&v2ks);
    let timeout = Duration::from_secs(4);
    let (_a_stop, a_rx) = watch::channel(false);
    let (b_stop, b_rx) = watch::channel(false);
    let (_c_stop, c_rx) = watch::channel(false);
    let b = group_member(&v1ks, v2ks, 1, &url, timeout, b_rx);
    let c = group_member(&v1ks, v2ks, 2, &url, timeout, c_rx);
    let a = group_member(&v1ks, v2ks, 0, &url, timeout, a_rx);
    wait_until("relay connections", Duration::from_secs(10), async || {
        a.is_connected() && b.is_connected() && c.is_connected()
    })
    .await;
    let (b_id, c_id) = (b.self_xonly(), c.self_xonly());
    // C first, then B: B is the most recently seen, so A asks B first (V2: both sign-ready).
    for id in [c_id, b_id] {
        a.ping(&id, Duration::from_secs(5)).await.expect("ping");
    }
    b_stop.send(true).expect("stop B");
    wait_until("B down", Duration::from_secs(5), async || !b.is_running()).await;

    let group_x = a.group_xonly();
    let t0 = Instant::now();
    let sig = a
        .sign([1; 32])
        .await
        .expect("the signature completes through C");
    let first = t0.elapsed();
    assert!(xonly_sig_verifies(&group_x, &[1; 32], &hex::encode(sig)));
    let b_now = a.peer(&b_id).expect("B");
    assert!(b_now.missed_since.is_some(), "B is marked: {b_now:?}");
    assert!(a.peer(&c_id).expect("C").missed_since.is_none());

    let t0 = Instant::now();
    let sig = a.sign([2; 32]).await.expect("the next signature");
    let second = t0.elapsed();
    assert!(xonly_sig_verifies(&group_x, &[2; 32], &hex::encode(sig)));
    assert!(
        second < timeout / 2,
        "the next request asks C first, not the silent B: {second:?}"
    );
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_sign_completes_through_another_peer_when_the_chosen_one_goes_down() {
    let (first, second) = sign_while_the_chosen_peer_goes_down(false).await;
    eprintln!("v1: signed through C after {first:?}; next signature {second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_sign_completes_through_another_peer_when_the_chosen_one_goes_down() {
    let (first, second) = sign_while_the_chosen_peer_goes_down(true).await;
    eprintln!("V2: signed through C after {first:?}; next signature {second:?}");
}

// ---------------------------------------------------------------------------------------------
// Clock jumps. The wall-clock offset hook is process-wide, so the test runs alone in a child
// process: this test binary again, filtered to `clock_jump_child`.

const CLOCK_CHILD: &str = "IGLOO_FAULTS_CLOCK_CHILD";

/// The wall clock jumps forward by an hour, then back by two (to an hour behind), while a
/// daemon with a logged-in session, a v1 node and two V2 nodes run: the session stays valid
/// (idle time is monotonic; before, the jump forward logged everyone out), the nodes keep
/// signing and echoing (after the jump back the relay subscriptions' `since` is lowered;
/// before, relays filtered out every new event), and the watchdog restarts nothing.
#[test]
fn clock_jumps_forward_and_back_by_an_hour() {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "clock_jump_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLOCK_CHILD, "1")
        .output()
        .expect("child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_jump_child() {
    use reqwest::Method;
    if std::env::var_os(CLOCK_CHILD).is_none() {
        return; // runs only as the child of clock_jumps_forward_and_back_by_an_hour
    }
    const SECRET: &str = "clock-jump-admin-secret-0123456789";
    const PASS: &str = "Gl4cier!Pw-clock";
    let srv = TestServer::start_auth(&["--admin-secret", SECRET, "--rate-limit-enabled", "false"]);
    let sid = common::onboard_admin(&srv, SECRET, PASS).await;
    let url = format!("ws://{}", srv.addr);
    let profile = async || {
        common::call(
            &srv,
            Method::GET,
            "/api/user/profile",
            Some(("x-session-id", &sid)),
            None,
        )
        .await
        .0
    };
    assert_eq!(profile().await, 200);

    // v1: a node and its echo (a relay round trip to itself).
    let v1ks = igloo::frostr::keyset::generate(&mut rand::thread_rng(), 2, 2, None).expect("ks");
    let (_v1_stop, v1_rx) = watch::channel(false);
    let v1 = igloo::node::start_with(
        v1ks.group.clone(),
        v1ks.shares[0].clone(),
        vec![url.clone()],
        Duration::from_secs(5),
        v1_rx,
    )
    .expect("v1 node");
    // V2: two nodes signing together (freshness and replay windows, nonce pools).
    let ks = igloo::frostr_v2::keyset::generate("clock", 2, 2, &mut rand::thread_rng())
        .expect("V2 keyset");
    let mut opts = V2Options::new(Duration::from_secs(5));
    opts.ping_interval = None;
    let (_sa, ra) = watch::channel(false);
    let (_sb, rb) = watch::channel(false);
    let a = v2node::start(
        ks.group.clone(),
        ks.shares[0].clone(),
        vec![url.clone()],
        opts.clone(),
        ra,
    )
    .expect("A");
    let b = v2node::start(
        ks.group.clone(),
        ks.shares[1].clone(),
        vec![url.clone()],
        opts,
        rb,
    )
    .expect("B");
    wait_until("relays", Duration::from_secs(10), async || {
        v1.is_connected() && a.is_connected() && b.is_connected()
    })
    .await;
    let works = async |when: &str| {
        v1.echo(Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("v1 echo {when}: {e}"));
        a.ping(&b.self_xonly(), Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("V2 ping {when}: {e}"));
        a.sign(rand::random())
            .await
            .unwrap_or_else(|e| panic!("V2 sign {when}: {e}"));
    };
    works("before the jumps").await;

    igloo::clock::set_test_offset(3600);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(profile().await, 200, "no logout after a jump forward");
    works("an hour ahead").await;

    igloo::clock::set_test_offset(-3600);
    tokio::time::sleep(Duration::from_millis(2500)).await; // the clock watch ticks each second
    assert_eq!(profile().await, 200, "still logged in after the jump back");
    works("an hour behind").await;

    let s = common::get_json(&srv.url("/api/status")).await;
    assert_eq!(s["health"]["restartCount"], 0, "{s}");
    igloo::clock::set_test_offset(0);
}
