//! Node lifecycle, health report, echo and the `/api/events` stream, on a real built-in relay
//! (another in-process daemon) on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, client, get_json};
use futures_util::StreamExt;
use igloo::events::{EventBus, EventKind};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::node::{NodeError, NodeHandle, Supervisor};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

fn keyset() -> Keyset {
    generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset")
}

fn start_signer(ks: &Keyset, share: usize, relay: &str) -> TestServer {
    TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &encode_group(&ks.group),
        "--share-cred",
        &encode_share(&ks.shares[share]),
        "--relays",
        relay,
        "--relay-enabled",
        "false",
    ])
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_connected(node: &NodeHandle) {
    wait_until("a relay connection", async || node.is_connected()).await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s")
            .expect("stream open")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON event");
        }
    }
}

/// Read events until one satisfies `pred`.
async fn wait_event(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let ev = next_json(ws).await;
        if pred(&ev) {
            return ev;
        }
    }
}

#[tokio::test]
async fn event_stream_greets_then_forwards_node_events_and_status_shows_health() {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let ks = keyset();
    let a = start_signer(&ks, 0, &url);
    let b = start_signer(&ks, 1, &url);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/events", a.addr))
        .await
        .expect("websocket upgrade");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "system");
    assert_eq!(hello["message"], "Connected to event stream");
    assert_eq!(hello["id"].as_str().map(str::len), Some(9));
    assert!(
        hello["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // B pings A through the relay: A answers and reports it on its stream.
    let a_key = hex::encode(igloo::frostr::types::x_only(&ks.shares[0].public_key()));
    wait_until("B's ping answered", async || {
        let r = client()
            .post(b.url("/api/peers/ping"))
            .json(&json!({ "target": a_key }))
            .send()
            .await
            .expect("ping");
        let v: Value = r.json().await.expect("json");
        v["success"] == json!(true)
    })
    .await;
    let answered = wait_event(&mut ws, |e| e["type"] == "bifrost").await;
    assert_eq!(answered["data"]["tag"], "/ping/req");
    // A now sees B online: a peer status event follows.
    let online = wait_event(&mut ws, |e| e["type"] == "peer-status-internal").await;
    assert_eq!(online["data"]["status"], "online");
    // /api/status: the health model and per-relay state.
    let s = get_json(&a.url("/api/status")).await;
    assert_eq!(s["health"]["isHealthy"], true, "{s}");
    assert_eq!(s["health"]["isConnected"], true);
    assert!(s["health"]["lastActivity"].as_str().is_some(), "{s}");
    assert!(s["health"]["timeSinceLastActivity"].as_u64().is_some());
    assert_eq!(s["health"]["restartCount"], 0);
    assert_eq!(s["relays"], json!([url]));
    assert_eq!(s["relayStates"][0]["url"], url);
    assert_eq!(s["relayStates"][0]["connected"], true);
    assert!(s["relayStates"][0]["since"].as_str().is_some());
}

#[tokio::test]
async fn event_stream_closes_a_flooding_client_with_1008() {
    let srv = TestServer::start(&[]);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/events", srv.addr))
        .await
        .expect("websocket upgrade");
    assert_eq!(next_json(&mut ws).await["type"], "system");
    use futures_util::SinkExt;
    for i in 0..200 {
        if ws.send(Message::text(format!("hi {i}"))).await.is_err() {
            break;
        }
    }
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server closes within 10 s")
        {
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1008);
}

#[tokio::test]
async fn supervisor_switches_keysets_fails_inflight_requests_and_stops_on_removal() {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let bus = EventBus::new();
    let mut events = bus.subscribe();
    let sup = Supervisor::new(stop_rx, bus);
    let (k1, k2) = (keyset(), keyset());
    let timeout = Duration::from_secs(30);
    let n1 = sup
        .apply(
            Some((k1.group.clone(), k1.shares[0].clone())),
            vec![url.clone()],
            timeout,
        )
        .expect("start keyset 1")
        .expect("a node");
    wait_connected(&n1).await;
    // No peer of keyset 1 runs: this sign waits for its 30 s timeout…
    let inflight = tokio::spawn({
        let n1 = n1.clone();
        async move { n1.sign([7u8; 32]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …until the credentials change: it fails at once, cleanly.
    let started = Instant::now();
    let n2 = sup
        .apply(
            Some((k2.group.clone(), k2.shares[1].clone())),
            vec![url.clone()],
            timeout,
        )
        .expect("start keyset 2")
        .expect("a node");
    let res = tokio::time::timeout(Duration::from_secs(5), inflight)
        .await
        .expect("the in-flight request ends with the old node")
        .expect("task");
    assert!(matches!(res, Err(NodeError::Stopped)), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_until("the old node to stop", async || !n1.is_running()).await;
    assert_ne!(n1.self_xonly(), n2.self_xonly());
    let cur = sup.current().expect("keyset 2 runs");
    assert_eq!(cur.self_xonly(), n2.self_xonly());
    wait_connected(&n2).await;
    // The new node works: a relay round trip through its own echo.
    n2.echo(Duration::from_secs(10))
        .await
        .expect("echo round trip");
    // Credentials removed: the node stops and is not restarted.
    sup.apply(None, vec![url], timeout).expect("stop");
    assert!(sup.current().is_none());
    assert!(!sup.wants_node());
    wait_until("the node to stop", async || !n2.is_running()).await;
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(e.kind);
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == EventKind::Ready).count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&EventKind::Info), "{kinds:?}");
}

#[tokio::test]
async fn a_second_device_with_our_share_is_detected_by_its_echo() {
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let ks = keyset();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let bus = EventBus::new();
    let mut events = bus.subscribe();
    let here = Supervisor::new(stop_rx.clone(), bus);
    let n = here
        .start(
            ks.group.clone(),
            ks.shares[0].clone(),
            vec![url.clone()],
            Duration::from_secs(10),
        )
        .expect("start");
    wait_connected(&n).await;
    // Our own start-up and round-trip echoes are not mistaken for another device.
    n.echo(Duration::from_secs(10)).await.expect("echo");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(e) = events.try_recv() {
        assert!(
            !e.message.contains("Another device"),
            "our own echo flagged: {}",
            e.message
        );
    }
    // The same share starts elsewhere: its start-up echo reaches us.
    let elsewhere = Supervisor::new(stop_rx, EventBus::new());
    elsewhere
        .start(
            ks.group.clone(),
            ks.shares[0].clone(),
            vec![url],
            Duration::from_secs(10),
        )
        .expect("start elsewhere");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, events.recv())
            .await
            .expect("another-device warning within 20 s")
            .expect("bus open");
        if e.kind == EventKind::Warn && e.message.contains("Another device holds this share") {
            break;
        }
    }
}

/// The health model feeds the systemd watchdog end to end: a real notify socket receives
/// `WATCHDOG=1` while the node is healthy, still while it is unhealthy and igloo restarts it
/// itself (its only relay can never connect: a process restart would heal nothing), and
/// nothing once those restarts are exhausted. Paused time.
#[tokio::test(start_paused = true)]
async fn watchdog_pings_stop_once_the_nodes_own_restarts_are_exhausted() {
    use igloo::config::Backoff;
    use igloo::node::health::{self, HealthSettings};
    use std::io::ErrorKind;
    use std::os::unix::net::UnixDatagram;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_nonblocking(true).expect("nonblocking");
    let notifier = igloo::systemd::Notifier::new(&path).expect("notifier");
    let pings = |sock: &UnixDatagram| {
        let mut n = 0;
        let mut buf = [0u8; 256];
        loop {
            match sock.recv(&mut buf) {
                Ok(len) => {
                    assert_eq!(&buf[..len], b"WATCHDOG=1");
                    n += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
                Err(e) => panic!("recv: {e}"),
            }
        }
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let sup = Supervisor::new(stop_rx.clone(), EventBus::new());
    let ks = keyset();
    sup.start(
        ks.group.clone(),
        ks.shares[0].clone(),
        vec!["ws://".into()],
        Duration::from_secs(5),
    )
    .expect("start");
    let backoff = Backoff {
        initial: Duration::from_secs(60),
        multiplier: 2.0,
        max_delay: Duration::from_secs(600),
        max_attempts: 3,
    };
    let settings = HealthSettings {
        check_interval: Duration::from_secs(30),
        keepalive_after: Duration::from_secs(45),
        unhealthy_after: Duration::from_secs(120),
        restart_after: Duration::from_secs(300),
        ping_timeout: Duration::from_secs(10),
        health_restart: backoff.clone(),
        restart: backoff,
    };
    let (health_tx, health_rx) = watch::channel(true);
    let runner = health::spawn(sup.clone(), settings, health_tx, stop_rx.clone());
    let mut stop_wd = stop_rx.clone();
    let wd =
        igloo::systemd::spawn_watchdog(notifier, Duration::from_secs(10), health_rx, async move {
            let _ = stop_wd.wait_for(|s| *s).await;
        });
    tokio::time::sleep(Duration::from_secs(100)).await;
    let healthy_pings = pings(&sock);
    assert!(
        healthy_pings >= 9,
        "pinged every 10 s while healthy: {healthy_pings}"
    );
    tokio::time::sleep(Duration::from_secs(40)).await; // t = 140 s: unhealthy since 120 s
    assert!(!sup.health().is_healthy);
    let _ = pings(&sock);
    tokio::time::sleep(Duration::from_secs(100)).await; // t = 240 s
    assert!(
        pings(&sock) >= 9,
        "still fed while unhealthy: igloo restarts the node itself first"
    );
    // Three watchdog restarts with backoff, then igloo gives up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6000);
    while !sup.health().gave_up {
        assert!(tokio::time::Instant::now() < deadline, "never gave up");
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    assert_eq!(sup.health().restart_count, 3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = pings(&sock);
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(
        pings(&sock),
        0,
        "no WATCHDOG=1 once igloo's own restarts are exhausted"
    );
    // Credentials removed: a server with no node is healthy again.
    sup.stop();
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert!(pings(&sock) >= 1, "pings resume without a node");
    let _ = stop_tx.send(true);
    runner.await.expect("runner");
    wd.await.expect("watchdog");
}
