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
    wait_until("the new node's relay", Duration::from_secs(10), async || {
        fresh.is_connected()
    })
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
    let ks =
        igloo::frostr_v2::keyset::generate("faults", 2, 2, &mut rand::thread_rng()).expect("V2 keyset");
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
        *sup.generation().borrow() > generation
            && sup.current_any().is_some_and(|n| n.is_running())
    })
    .await;
    let fresh = sup.current_any().expect("a new node");
    wait_until("the new node's relay", Duration::from_secs(10), async || {
        fresh.is_connected()
    })
    .await;
    fresh
        .ping(&peer_id, Duration::from_secs(5))
        .await
        .expect("the restarted V2 node pings its peer");
}
