//! GUARD on WebSocket upgrades: the Origin check on both sockets (relay at `/` and
//! `/api/events`) and the per-address upgrade bucket.

mod common;

use common::{TestServer, ws_upgrade};

#[tokio::test]
async fn evil_origin_gets_403_on_both_websockets() {
    let srv = TestServer::start(&[]);
    for path in ["/", "/api/events"] {
        assert_eq!(
            ws_upgrade(&srv, path, &[("origin", "https://evil.example")]).await,
            Err(403),
            "{path}"
        );
        assert_eq!(
            ws_upgrade(&srv, path, &[("origin", "null")]).await,
            Err(403),
            "{path}: an opaque origin"
        );
    }
}

#[tokio::test]
async fn relay_accepts_non_browsers_its_own_host_and_listed_origins() {
    let srv = TestServer::start(&["--allowed-origins", "https://client.example"]);
    assert_eq!(
        ws_upgrade(&srv, "/", &[]).await,
        Ok(()),
        "no Origin: a Nostr client"
    );
    let own = format!("http://127.0.0.1:{}", srv.addr.port());
    assert_eq!(ws_upgrade(&srv, "/", &[("origin", &own)]).await, Ok(()));
    assert_eq!(
        ws_upgrade(&srv, "/", &[("origin", "https://client.example")]).await,
        Ok(())
    );
    assert_eq!(
        ws_upgrade(&srv, "/", &[("origin", "https://other.example")]).await,
        Err(403)
    );
}

#[tokio::test]
async fn forwarded_host_counts_only_behind_a_trusted_proxy() {
    let origin = ("origin", "https://igloo.example.com");
    let fwd = ("x-forwarded-host", "igloo.example.com");
    let proto = ("x-forwarded-proto", "https");
    let direct = TestServer::start(&[]);
    assert_eq!(
        ws_upgrade(&direct, "/", &[origin, fwd, proto]).await,
        Err(403)
    );
    let proxied = TestServer::start(&["--trust-proxy", "true"]);
    assert_eq!(
        ws_upgrade(&proxied, "/", &[origin, fwd, proto]).await,
        Ok(())
    );
}

#[tokio::test]
async fn upgrades_per_address_are_rate_limited() {
    let srv = TestServer::start(&["--trust-proxy", "true", "--rate-limit-ws-upgrade-max", "2"]);
    let a = ("x-forwarded-for", "192.0.2.1");
    assert_eq!(ws_upgrade(&srv, "/", &[a]).await, Ok(()));
    assert_eq!(ws_upgrade(&srv, "/", &[a]).await, Ok(()));
    assert_eq!(ws_upgrade(&srv, "/", &[a]).await, Err(429));
    assert_eq!(
        ws_upgrade(&srv, "/api/events", &[a]).await,
        Err(429),
        "one bucket for both sockets"
    );
    let b = ("x-forwarded-for", "192.0.2.2");
    assert_eq!(ws_upgrade(&srv, "/", &[b]).await, Ok(()));
}

#[tokio::test]
async fn loopback_upgrades_are_not_counted() {
    // The node's own reconnects to the built-in relay must never lock it out.
    let srv = TestServer::start(&["--rate-limit-ws-upgrade-max", "2"]);
    for _ in 0..5 {
        assert_eq!(ws_upgrade(&srv, "/", &[]).await, Ok(()));
    }
}
