//! The built-in relay on the daemon's own port (and optionally its own), next to the UI and
//! the API, with its counters in /api/status; the node's relay pool against it.

mod common;
mod relay_common;

use std::time::Duration;

use common::{TestServer, client, get_json};
use nostr::prelude::Filter;
use relay_common::{Client, Signer};

#[tokio::test]
async fn relay_answers_on_the_daemon_port_beside_the_ui() {
    let srv = TestServer::start(&[]);
    let url = format!("ws://{}", srv.addr);
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    let signer = Signer::new(7);
    let stored = signer.note("stored");
    a.publish_ok(&stored).await;
    let got = b.req("s", vec![Filter::new().author(signer.pubkey)]).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, stored.id);
    let live = signer.note("live");
    a.publish_ok(&live).await;
    let (_, ev) = b.live().await;
    assert_eq!(ev.id, live.id);

    // NIP-11 on GET / with the nostr Accept header; the UI otherwise.
    let info: serde_json::Value = client()
        .get(srv.url("/"))
        .header("accept", "application/nostr+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        info["supported_nips"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == 1)
    );
    let html = client()
        .get(srv.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<title>igloo</title>"));

    let status = get_json(&srv.url("/api/status")).await;
    let relay = &status["relay"];
    assert!(relay.is_object(), "{status}");
    assert!(
        // The two clients above, plus the NIP-46 signer's own subscription once it is up.
        matches!(relay["connections"].as_u64(), Some(2..=3)),
        "{relay}"
    );
}

#[tokio::test]
async fn relay_can_be_disabled_and_can_have_its_own_port() {
    let srv = TestServer::start(&["--relay-enabled", "false"]);
    let status = get_json(&srv.url("/api/status")).await;
    assert!(status["relay"].is_null());
    let ws = tokio_tungstenite::connect_async(format!("ws://{}/", srv.addr)).await;
    assert!(ws.is_err(), "no relay when disabled");
    drop(srv);

    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let _srv = TestServer::start(&["--relay-port", &port.to_string()]);
    let mut c = Client::connect(&format!("ws://127.0.0.1:{port}")).await;
    c.publish_ok(&Signer::new(3).note("own port")).await;
}

#[tokio::test]
async fn relay_pool_connects_subscribes_and_dedupes_across_relays() {
    let srv1 = TestServer::start(&[]);
    let srv2 = TestServer::start(&[]);
    let signer = Signer::new(11);
    let urls = vec![format!("ws://{}", srv1.addr), format!("ws://{}", srv2.addr)];
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut cfg =
        igloo::node::pool::PoolConfig::new(urls.clone(), Filter::new().author(signer.pubkey));
    cfg.ping_interval = Duration::from_millis(200);
    let (pool, mut events) =
        igloo::node::pool::start(cfg, igloo::node::pool::default_tls(), stop_rx);
    // Wait until both sockets are really open.
    for _ in 0..100 {
        if pool.connected_count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pool.connected_count(), 2, "{:?}", pool.states());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // One event published through the pool reaches both relays and comes back once.
    let ev = signer.note("through the pool");
    assert_eq!(pool.publish(&ev), 2);
    let got = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, ev.id);
    // Both relays really sent their copy to the pool (the pool is each relay's only
    // subscriber)…
    for srv in [&srv1, &srv2] {
        let mut out = 0;
        for _ in 0..100 {
            out = get_json(&srv.url("/api/status")).await["relay"]["events_out"]
                .as_u64()
                .unwrap_or(0);
            if out >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(out, 1, "relay {} delivered the event to the pool", srv.addr);
    }
    // …and the second copy, which did arrive, is dropped as a duplicate.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), events.recv())
            .await
            .is_err(),
        "the copy from the second relay is de-duplicated"
    );
    // RTT is measured by WebSocket pings.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        pool.states().iter().all(|s| s.rtt_ms.is_some()),
        "{:?}",
        pool.states()
    );

    // A relay that goes away is reported as disconnected, with the error.
    drop(srv2);
    for _ in 0..100 {
        if pool.connected_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let states = pool.states();
    assert_eq!(pool.connected_count(), 1, "{states:?}");
    let down = states.iter().find(|s| !s.connected).unwrap();
    assert!(down.last_error.is_some());
    let _ = stop_tx.send(true);
}
