//! NIP-01 conformance of the ephemeral relay, over real WebSockets on 127.0.0.1.

mod relay_common;

use std::time::Duration;

use nostr::prelude::*;
use relay_common::{Client, Signer, TestRelay, now, test_config};

fn ids(events: &[Event]) -> Vec<EventId> {
    events.iter().map(|e| e.id).collect()
}

fn sub(id: &str) -> SubscriptionId {
    SubscriptionId::new(id)
}

#[tokio::test]
async fn nip11_document_and_plain_page() {
    let relay = TestRelay::start(test_config()).await;
    let http = reqwest::Client::new();
    let res = http
        .get(format!("http://{}/", relay.addr))
        .header("Accept", "application/nostr+json")
        .send()
        .await
        .expect("GET /");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().ok(),
        Some("application/nostr+json")
    );
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let doc: serde_json::Value = res.json().await.expect("json");
    assert_eq!(doc["software"], "igloo");
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["supported_nips"]
            .as_array()
            .is_some_and(|n| n.contains(&1.into()) && n.contains(&11.into()))
    );
    assert_eq!(doc["limitation"]["max_message_length"], 128 * 1024);
    assert_eq!(doc["limitation"]["max_subscriptions"], 20);

    let plain = http
        .get(format!("http://{}/", relay.addr))
        .send()
        .await
        .expect("GET /");
    assert_eq!(plain.status(), 200);
    assert!(
        plain
            .text()
            .await
            .unwrap_or_default()
            .contains("igloo relay")
    );
}

#[tokio::test]
async fn stored_then_eose_then_live() {
    let relay = TestRelay::start(test_config()).await;
    let alice = Signer::new(1);
    let mut publisher = relay.client().await;
    let mut reader = relay.client().await;

    let first = alice.note("first");
    publisher.publish_ok(&first).await;
    let stored = reader
        .req("s", vec![Filter::new().kind(Kind::TextNote)])
        .await;
    assert_eq!(ids(&stored), vec![first.id]);
    assert_eq!(stored[0], first, "the stored event comes back unchanged");

    let second = alice.note("second");
    publisher.publish_ok(&second).await;
    let (sid, live) = reader.live().await;
    assert_eq!(sid, "s");
    assert_eq!(live, second);
}

#[tokio::test]
async fn every_filter_field() {
    let relay = TestRelay::start(test_config()).await;
    let (a, b) = (Signer::new(1), Signer::new(2));
    let t = now() - 1_000;
    let e1 = a.event(1, "a1", &[&["t", "x"]], t);
    let e2 = a.event(7, "a7", &[&["t", "y"], &["p", &b.pubkey.to_hex()]], t + 10);
    let e3 = b.event(1, "b1", &[&["t", "y", "extra"]], t + 20);
    let e4 = b.event(1, "b1 no tags", &[], t + 30);
    let mut c = relay.client().await;
    for e in [&e1, &e2, &e3, &e4] {
        c.publish_ok(e).await;
    }

    let got = c.req("ids", vec![Filter::new().ids([e1.id, e3.id])]).await;
    assert_eq!(ids(&got), vec![e3.id, e1.id], "ids, newest first");

    let got = c.req("authors", vec![Filter::new().author(a.pubkey)]).await;
    assert_eq!(ids(&got), vec![e2.id, e1.id]);

    let got = c
        .req("kinds", vec![Filter::new().kind(Kind::from_u16(7))])
        .await;
    assert_eq!(ids(&got), vec![e2.id]);

    // Tag filter: any of the values; events without the tag never match.
    let tag_t = SingleLetterTag::from_char('t').expect("t");
    let got = c
        .req("tags", vec![Filter::new().custom_tags(tag_t, ["y", "z"])])
        .await;
    assert_eq!(ids(&got), vec![e3.id, e2.id]);
    let got = c
        .req("tags2", vec![Filter::new().custom_tag(tag_t, "x")])
        .await;
    assert_eq!(ids(&got), vec![e1.id]);
    let got = c.req("ptag", vec![Filter::new().pubkey(b.pubkey)]).await;
    assert_eq!(ids(&got), vec![e2.id]);
    // Two tag letters: both must match.
    let tag_p = SingleLetterTag::from_char('p').expect("p");
    let got = c
        .req(
            "tags3",
            vec![
                Filter::new()
                    .custom_tag(tag_t, "x")
                    .custom_tag(tag_p, b.pubkey.to_hex()),
            ],
        )
        .await;
    assert!(got.is_empty());

    let got = c
        .req(
            "since",
            vec![Filter::new().since(Timestamp::from_secs(t + 10))],
        )
        .await;
    assert_eq!(ids(&got), vec![e4.id, e3.id, e2.id], "since is inclusive");
    let got = c
        .req(
            "until",
            vec![Filter::new().until(Timestamp::from_secs(t + 10))],
        )
        .await;
    assert_eq!(ids(&got), vec![e2.id, e1.id], "until is inclusive");
    let got = c
        .req(
            "window",
            vec![
                Filter::new()
                    .since(Timestamp::from_secs(t + 5))
                    .until(Timestamp::from_secs(t + 25)),
            ],
        )
        .await;
    assert_eq!(ids(&got), vec![e3.id, e2.id]);

    // Several filters are OR-ed, the union deduplicated and sorted.
    let got = c
        .req(
            "or",
            vec![
                Filter::new().kind(Kind::from_u16(7)),
                Filter::new().author(b.pubkey),
                Filter::new().id(e3.id),
            ],
        )
        .await;
    assert_eq!(ids(&got), vec![e4.id, e3.id, e2.id]);

    // Empty lists match nothing (an OR over no values).
    let got = c
        .req("empty", vec![Filter::new().ids(Vec::<EventId>::new())])
        .await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn limit_returns_newest_matching() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(1);
    let t = now() - 100;
    let mut c = relay.client().await;
    let wanted: Vec<Event> = (0..5)
        .map(|i| a.event(9999, &format!("w{i}"), &[], t + i))
        .collect();
    // Newer non-matching events must not eat the limit (igloo-server defect 3).
    let noise: Vec<Event> = (0..5)
        .map(|i| a.event(1, &format!("n{i}"), &[], t + 50 + i))
        .collect();
    for e in wanted.iter().chain(noise.iter()) {
        c.publish_ok(e).await;
    }
    let got = c
        .req("l", vec![Filter::new().kind(Kind::from_u16(9999)).limit(2)])
        .await;
    assert_eq!(ids(&got), vec![wanted[4].id, wanted[3].id]);
    let got = c
        .req(
            "l0",
            vec![Filter::new().kind(Kind::from_u16(9999)).limit(0)],
        )
        .await;
    assert!(got.is_empty(), "limit 0: only EOSE");
    // Limit is per filter.
    let got = c
        .req(
            "l2",
            vec![
                Filter::new().kind(Kind::from_u16(9999)).limit(1),
                Filter::new().kind(Kind::TextNote).limit(1),
            ],
        )
        .await;
    assert_eq!(ids(&got), vec![noise[4].id, wanted[4].id]);

    // Same timestamp: lowest id first.
    let x = a.event(5000, "x", &[], t);
    let y = a.event(5000, "y", &[], t);
    c.publish_ok(&x).await;
    c.publish_ok(&y).await;
    let got = c
        .req(
            "tie",
            vec![Filter::new().kind(Kind::from_u16(5000)).limit(1)],
        )
        .await;
    assert_eq!(ids(&got), vec![x.id.min(y.id)]);
}

#[tokio::test]
async fn live_delivery_respects_filters_and_subscriptions() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(1);
    let mut publisher = relay.client().await;
    let mut c = relay.client().await;
    assert!(
        c.req("k7777", vec![Filter::new().kind(Kind::from_u16(7777))])
            .await
            .is_empty()
    );
    assert!(
        c.req("k8888", vec![Filter::new().kind(Kind::from_u16(8888))])
            .await
            .is_empty()
    );

    // A kind-9999 event must not reach either (igloo-server defect 1).
    publisher.publish_ok(&a.event(9999, "no", &[], now())).await;
    let e = a.event(7777, "yes", &[], now());
    publisher.publish_ok(&e).await;
    let (sid, got) = c.live().await;
    assert_eq!((sid.as_str(), got.id), ("k7777", e.id));

    // CLOSE removes that subscription only (igloo-server defect 2).
    c.send(ClientMessage::close(sub("k7777"))).await;
    publisher
        .publish_ok(&a.event(7777, "closed", &[], now()))
        .await;
    let e = a.event(8888, "other", &[], now());
    publisher.publish_ok(&e).await;
    let (sid, got) = c.live().await;
    assert_eq!((sid.as_str(), got.id), ("k8888", e.id));

    // A reused id replaces the old subscription.
    assert!(
        c.req("k8888", vec![Filter::new().kind(Kind::from_u16(6666))])
            .await
            .is_empty()
    );
    publisher
        .publish_ok(&a.event(8888, "old filter", &[], now()))
        .await;
    let e = a.event(6666, "new filter", &[], now());
    publisher.publish_ok(&e).await;
    let (sid, got) = c.live().await;
    assert_eq!((sid.as_str(), got.id), ("k8888", e.id));
    c.quiet(Duration::from_millis(200)).await;
    assert_eq!(relay.relay.stats().subscriptions, 1);

    // One event matching two subscriptions is delivered to each.
    assert!(
        c.req("also", vec![Filter::new().author(a.pubkey).limit(0)])
            .await
            .is_empty()
    );
    let e = a.event(6666, "both", &[], now());
    publisher.publish_ok(&e).await;
    let mut subs = vec![c.live().await.0, c.live().await.0];
    subs.sort();
    assert_eq!(subs, vec!["also".to_owned(), "k8888".to_owned()]);
}

#[tokio::test]
async fn disconnect_frees_subscriptions() {
    let relay = TestRelay::start(test_config()).await;
    {
        let mut c = relay.client().await;
        c.req("a", vec![Filter::new()]).await;
        c.req("b", vec![Filter::new()]).await;
        assert_eq!(relay.relay.stats().subscriptions, 2);
        assert_eq!(relay.relay.stats().connections, 1);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while relay.relay.stats().connections > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = relay.relay.stats();
    assert_eq!((s.connections, s.subscriptions), (0, 0));
}

#[tokio::test]
async fn ephemeral_replaceable_addressable() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(1);
    let t = now() - 100;
    let mut publisher = relay.client().await;
    let mut c = relay.client().await;

    // Ephemeral: delivered live, never stored.
    assert!(
        c.req("eph", vec![Filter::new().kind(Kind::from_u16(20001))])
            .await
            .is_empty()
    );
    let e = a.event(20001, "eph", &[], t);
    publisher.publish_ok(&e).await;
    assert_eq!(c.live().await.1.id, e.id);
    assert!(
        c.req("eph2", vec![Filter::new().kind(Kind::from_u16(20001))])
            .await
            .is_empty()
    );

    // Replaceable (kind 0 and 10000-19999): newest per (pubkey, kind).
    for kind in [0u16, 3, 10002] {
        let old = a.event(kind, "old", &[], t);
        let new = a.event(kind, "new", &[], t + 1);
        publisher.publish_ok(&old).await;
        publisher.publish_ok(&new).await;
        let (ok, msg) = publisher.publish(&a.event(kind, "older", &[], t - 1)).await;
        assert!(
            !ok && msg.starts_with("duplicate:"),
            "older version refused: {msg}"
        );
        let got = c
            .req("r", vec![Filter::new().kind(Kind::from_u16(kind))])
            .await;
        assert_eq!(ids(&got), vec![new.id], "kind {kind}");
    }
    // Same timestamp: the lowest id is kept.
    let x = a.event(10003, "x", &[], t);
    let y = a.event(10003, "y", &[], t);
    let (low, high) = if x.id < y.id { (x, y) } else { (y, x) };
    publisher.publish_ok(&high).await;
    publisher.publish_ok(&low).await;
    let (ok, _) = publisher.publish(&a.event(10003, "x", &[], t)).await;
    assert!(!ok);
    let got = c
        .req("tie", vec![Filter::new().kind(Kind::from_u16(10003))])
        .await;
    assert_eq!(ids(&got), vec![low.id]);

    // Addressable: newest per (pubkey, kind, d).
    let d1_old = a.event(30023, "d1 old", &[&["d", "one"]], t);
    let d1_new = a.event(30023, "d1 new", &[&["d", "one"]], t + 5);
    let d2 = a.event(30023, "d2", &[&["d", "two"]], t);
    let no_d = a.event(30023, "no d", &[], t);
    for e in [&d1_old, &d1_new, &d2, &no_d] {
        publisher.publish_ok(e).await;
    }
    let got = c
        .req("addr", vec![Filter::new().kind(Kind::from_u16(30023))])
        .await;
    assert_eq!(
        ids(&got),
        vec![d1_new.id, d2.id.min(no_d.id), d2.id.max(no_d.id)]
    );

    // Regular kinds keep every event; duplicates are stored once.
    let n = a.event(1, "dup", &[], t);
    publisher.publish_ok(&n).await;
    let (ok, msg) = publisher.publish(&n).await;
    assert!(!ok && msg.starts_with("duplicate:"), "{msg}");
    let got = c.req("dup", vec![Filter::new().id(n.id)]).await;
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn invalid_events_are_refused() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(1);
    let mut c = relay.client().await;
    let good = a.note("content");

    // Content changed after signing: the id no longer matches.
    let mut tampered = good.clone();
    tampered.content = "changed".into();
    let (ok, msg) = c.publish(&tampered).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");

    // A valid id with another event's signature.
    let other = a.note("other");
    let mut bad_sig = good.clone();
    bad_sig.sig = other.sig;
    let (ok, msg) = c.publish(&bad_sig).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");

    // Too far in the future (default tolerance 900 s).
    let (ok, msg) = c.publish(&a.event(1, "future", &[], now() + 3_600)).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");
    c.publish_ok(&a.event(1, "near future", &[], now() + 60))
        .await;

    // Structurally broken event with a readable id: OK false, not silence.
    let id = "ab".repeat(32);
    c.send_raw(format!(r#"["EVENT",{{"id":"{id}","kind":"one"}}]"#))
        .await;
    match c.recv().await {
        RelayMessage::Ok {
            event_id,
            status,
            message,
        } => {
            assert_eq!(event_id.to_hex(), id);
            assert!(!status && message.starts_with("invalid:"), "{message}");
        }
        other => panic!("expected OK false, got {other:?}"),
    }

    c.publish_ok(&good).await;
    let s = relay.relay.stats();
    assert_eq!(s.rejected.invalid, 4);
    assert_eq!(s.events_accepted, 2);
}

#[tokio::test]
async fn unparsable_input_gets_notice_and_connection_stays() {
    let relay = TestRelay::start(test_config()).await;
    let mut c = relay.client().await;
    for junk in ["not json", "{}", "[]", r#"["WHAT","x"]"#, r#"["REQ"]"#] {
        c.send_raw(junk).await;
        assert!(
            matches!(c.recv().await, RelayMessage::Notice(m) if m.starts_with("invalid:")),
            "{junk}"
        );
    }
    // A REQ whose filter is malformed is CLOSED with the subscription id.
    c.send_raw(r#"["REQ","bad",{"kinds":"x"}]"#).await;
    assert!(
        matches!(c.recv().await, RelayMessage::Closed { subscription_id, message }
        if subscription_id.as_str() == "bad" && message.starts_with("invalid:"))
    );
    c.send_raw(r#"["REQ","nofilter"]"#).await;
    assert!(matches!(c.recv().await, RelayMessage::Closed { .. }));
    // Unsupported features are refused with `unsupported:`.
    c.send_raw(r#"["REQ","srch",{"search":"x"}]"#).await;
    assert!(
        matches!(c.recv().await, RelayMessage::Closed { message, .. }
        if message.starts_with("unsupported:"))
    );
    c.send_raw(r#"["NEG-CLOSE","x"]"#).await;
    assert!(matches!(c.recv().await, RelayMessage::Notice(m) if m.starts_with("unsupported:")));
    // Still usable.
    c.publish_ok(&Signer::new(1).note("still here")).await;
}

#[tokio::test]
async fn subscription_limits_answer_closed() {
    let cfg = relay_common::test_config();
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        max_subscriptions: 2,
        max_filters: 2,
        ..cfg
    })
    .await;
    let mut c = relay.client().await;
    c.req("1", vec![Filter::new()]).await;
    c.req("2", vec![Filter::new()]).await;
    c.send(ClientMessage::req(sub("3"), vec![Filter::new()]))
        .await;
    assert!(
        matches!(c.recv().await, RelayMessage::Closed { subscription_id, message }
        if subscription_id.as_str() == "3" && message.starts_with("rate-limited:"))
    );
    // Reusing an id is a replacement, not a new subscription.
    c.req("2", vec![Filter::new().kind(Kind::TextNote)]).await;
    // After a CLOSE there is room again.
    c.send(ClientMessage::close(sub("1"))).await;
    c.req("3", vec![Filter::new()]).await;

    c.send(ClientMessage::req(
        sub("many"),
        vec![Filter::new(), Filter::new(), Filter::new()],
    ))
    .await;
    assert!(
        matches!(c.recv().await, RelayMessage::Closed { subscription_id, .. }
        if subscription_id.as_str() == "many")
    );

    let long = "x".repeat(65);
    c.send(ClientMessage::req(sub(&long), vec![Filter::new()]))
        .await;
    assert!(
        matches!(c.recv().await, RelayMessage::Closed { message, .. }
        if message.starts_with("invalid:"))
    );
    c.send(ClientMessage::req(sub(""), vec![Filter::new()]))
        .await;
    assert!(matches!(c.recv().await, RelayMessage::Closed { .. }));
    let s = relay.relay.stats();
    assert_eq!(s.subscriptions, 2);
    assert_eq!(s.rejected.subscription_limit, 2);
}

#[tokio::test]
async fn oversized_messages() {
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        max_message_bytes: 4 * 1024,
        ..test_config()
    })
    .await;
    let a = Signer::new(1);
    let mut c = relay.client().await;
    // Over the limit: refused with OK false, the connection stays.
    let big = a.event(1, &"x".repeat(6 * 1024), &[], now());
    let (ok, msg) = c.publish(&big).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");
    c.publish_ok(&a.note("small")).await;
    assert_eq!(relay.relay.stats().rejected.too_large, 1);
    // Far over the limit: the WebSocket layer drops the connection without buffering it.
    c.send_raw(format!(
        r#"["EVENT",{{"content":"{}"}}]"#,
        "y".repeat(100 * 1024)
    ))
    .await;
    // …and closes it (a timeout would fail here).
    c.expect_closed(Duration::from_secs(5)).await;
    let mut again = relay.client().await;
    again.publish_ok(&a.note("new connection")).await;
}

#[tokio::test]
async fn message_rate_limit() {
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        messages_per_second: 5,
        ..test_config()
    })
    .await;
    let a = Signer::new(1);
    let mut c = relay.client().await;
    let events: Vec<Event> = (0..30).map(|i| a.note(&format!("n{i}"))).collect();
    let started = std::time::Instant::now();
    for e in &events {
        c.send(ClientMessage::event(e.clone())).await;
    }
    let mut limited = 0u64;
    for e in &events {
        match c.recv().await {
            RelayMessage::Ok {
                event_id,
                status,
                message,
            } => {
                assert_eq!(event_id, e.id, "OKs come in order");
                if !status {
                    assert!(message.starts_with("rate-limited:"), "{message}");
                    limited += 1;
                }
            }
            other => panic!("expected OK, got {other:?}"),
        }
    }
    // Burst of 10 (two seconds' worth), then 5/s refill while the relay works through them.
    let accepted = 30 - limited;
    let refill = (started.elapsed().as_secs_f64() * 5.0).ceil() as u64;
    assert!(accepted >= 10, "the burst passes: {accepted}");
    assert!(
        accepted <= 10 + refill,
        "accepted {accepted}, refill {refill}"
    );
    assert_eq!(relay.relay.stats().rejected.rate_limited, limited);
}

#[tokio::test]
async fn connections_per_ip_limit() {
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        max_connections_per_ip: 2,
        ..test_config()
    })
    .await;
    let mut c1 = relay.client().await;
    let _c2 = relay.client().await;
    let mut c3 = relay.client().await;
    assert!(matches!(c3.recv().await, RelayMessage::Notice(m) if m.starts_with("rate-limited:")));
    // The refused socket closes (not merely stays silent).
    c3.expect_closed(Duration::from_secs(2)).await;
    c1.publish_ok(&Signer::new(1).note("first still works"))
        .await;
    drop(c1);
    // The slot is released when a connection ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while relay.relay.stats().connections > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c4 = relay.client().await;
    c4.publish_ok(&Signer::new(1).note("slot reused")).await;
    assert_eq!(relay.relay.stats().rejected.connection_limit, 1);
}

#[tokio::test]
async fn purge_with_short_ttl() {
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        purge_seconds: 2,
        ..test_config()
    })
    .await;
    let a = Signer::new(1);
    let mut c = relay.client().await;
    c.publish_ok(&a.note("short-lived")).await;
    assert_eq!(c.req("now", vec![Filter::new()]).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(c.req("later", vec![Filter::new()]).await.is_empty());
    // The maintenance timer purges on its own too: memory is freed with no traffic.
    c.publish_ok(&a.note("second")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while relay.relay.stats().stored_events > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = relay.relay.stats();
    assert_eq!((s.stored_events, s.stored_bytes), (0, 0));
    assert_eq!(s.purged, 2);
}

#[tokio::test]
async fn caps_evict_oldest_first() {
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        max_events: 3,
        ..test_config()
    })
    .await;
    let a = Signer::new(1);
    let mut c = relay.client().await;
    // Arrival order differs from created_at order: eviction follows arrival.
    let t = now() - 100;
    let events: Vec<Event> = [50, 10, 40, 20, 30]
        .iter()
        .map(|dt| a.event(1, &format!("{dt}"), &[], t + dt))
        .collect();
    for e in &events {
        c.publish_ok(e).await;
    }
    let got = c.req("all", vec![Filter::new()]).await;
    assert_eq!(ids(&got), vec![events[2].id, events[4].id, events[3].id]);
    assert_eq!(relay.relay.stats().evicted, 2);

    // Byte cap.
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        max_bytes: 8 * 1024,
        ..test_config()
    })
    .await;
    let mut c = relay.client().await;
    let body = "z".repeat(3 * 1024);
    let events: Vec<Event> = (0..4)
        .map(|i| a.event(1, &format!("{i}{body}"), &[], t + i))
        .collect();
    for e in &events {
        c.publish_ok(e).await;
    }
    let s = relay.relay.stats();
    assert!(
        s.stored_bytes <= 8 * 1024,
        "{} bytes stored",
        s.stored_bytes
    );
    let got = c.req("all", vec![Filter::new()]).await;
    assert_eq!(ids(&got), vec![events[3].id, events[2].id]);
}

#[tokio::test]
async fn count_nip45() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(1);
    let mut c = relay.client().await;
    for i in 0..3 {
        c.publish_ok(&a.event(1, &format!("{i}"), &[], now())).await;
    }
    c.publish_ok(&a.event(7, "r", &[], now())).await;
    c.send(ClientMessage::count(
        sub("c"),
        Filter::new().kind(Kind::TextNote),
    ))
    .await;
    assert!(
        matches!(c.recv().await, RelayMessage::Count { subscription_id, count }
        if subscription_id.as_str() == "c" && count == 3)
    );
}

#[tokio::test]
async fn five_hundred_subscribers_receive_one_event() {
    let relay = TestRelay::start(test_config()).await;
    let mut clients = Vec::with_capacity(500);
    for _ in 0..500 {
        let mut c = relay.client().await;
        assert!(
            c.req("all", vec![Filter::new().kind(Kind::TextNote)])
                .await
                .is_empty()
        );
        clients.push(c);
    }
    assert_eq!(relay.relay.stats().subscriptions, 500);
    let e = Signer::new(1).note("to everyone");
    relay.client().await.publish_ok(&e).await;
    let receivers = clients.into_iter().map(|mut c| {
        let id = e.id;
        tokio::spawn(async move {
            let (sid, got) = c.live().await;
            sid == "all" && got.id == id
        })
    });
    let mut received = 0;
    for r in receivers {
        if r.await.unwrap_or(false) {
            received += 1;
        }
    }
    assert_eq!(received, 500);
    assert!(relay.relay.stats().events_out >= 500);
}

#[tokio::test]
async fn stalled_reader_does_not_delay_fast_reader() {
    let relay = TestRelay::start(igloo::relay::RelayConfig {
        send_queue: 8,
        ..test_config()
    })
    .await;
    let a = Signer::new(1);
    let mut slow = Client::connect_small_buffer(relay.addr).await;
    let mut fast = relay.client().await;
    let mut publisher = relay.client().await;
    assert!(slow.req("s", vec![Filter::new()]).await.is_empty());
    assert!(fast.req("f", vec![Filter::new()]).await.is_empty());
    // `slow` never reads from here on. ~100 KB events soon fill its TCP buffers and queue.
    let body = "p".repeat(100 * 1024);
    let events: Vec<Event> = (0..80)
        .map(|i| a.event(20000, &format!("{i}{body}"), &[], now()))
        .collect();
    // Lock-step: each event must reach the fast reader before the next is sent. A relay that
    // waited on the stalled socket would hold an event until that write timed out (10 s).
    let mut worst = Duration::ZERO;
    for e in &events {
        let t0 = tokio::time::Instant::now();
        publisher.publish_ok(e).await;
        let got = fast
            .try_recv(Duration::from_secs(5))
            .await
            .expect("fast reader got the event within 5 s");
        match got {
            RelayMessage::Event { event, .. } => assert_eq!(event.id, e.id),
            other => panic!("expected EVENT, got {other:?}"),
        }
        worst = worst.max(t0.elapsed());
    }
    assert!(worst < Duration::from_secs(5), "worst delivery {worst:?}");
    let s = relay.relay.stats();
    assert_eq!(s.rejected.slow_consumer, 1, "{s:?}");
    assert_eq!(s.connections, 2, "stalled connection dropped: {s:?}");
    // The stalled client finds its connection closed once it reads again.
    slow.expect_closed(Duration::from_secs(20)).await;
}

#[tokio::test]
async fn shutdown_closes_connections() {
    let mut relay = TestRelay::start(test_config()).await;
    let mut c = relay.client().await;
    c.req("s", vec![Filter::new()]).await;
    relay.shutdown();
    c.expect_closed(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_multi_thread_runtime() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(3);
    let mut c = relay.client().await;
    assert!(
        c.req("s", vec![Filter::new().author(a.pubkey)])
            .await
            .is_empty()
    );
    let mut p = relay.client().await;
    let e = a.note("mt");
    p.publish_ok(&e).await;
    assert_eq!(c.live().await.1.id, e.id);
}

/// Messages many times the relay's 16 KiB socket read size still arrive whole: stored, served
/// by REQ and delivered live byte for byte.
#[tokio::test]
async fn messages_larger_than_one_read_arrive_whole() {
    let relay = TestRelay::start(test_config()).await;
    let a = Signer::new(71);
    let mut sub = relay.client().await;
    let live = sub.req("big", vec![Filter::new().author(a.pubkey)]).await;
    assert!(live.is_empty());
    let mut publisher = relay.client().await;
    let content: String = (0..100 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let big = a.event(1, &content, &[], now());
    publisher.publish_ok(&big).await;
    // A small one right behind it, on the same socket.
    publisher.publish_ok(&a.note("after")).await;
    let (_, got) = sub.live().await;
    assert_eq!(got.id, big.id);
    assert_eq!(got.content, content);
    let mut fresh = relay.client().await;
    let stored = fresh.req("q", vec![Filter::new().id(big.id)]).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, content);
}

/// Control for the close checks above: on a connection that stays open, `expect_closed` fails
/// (a timeout is not a close), and `quiet` passes.
#[tokio::test]
#[should_panic(expected = "not closed")]
async fn expect_closed_fails_on_an_open_connection() {
    let relay = TestRelay::start(test_config()).await;
    let mut c = relay.client().await;
    c.req("s", vec![Filter::new()]).await;
    c.quiet(Duration::from_millis(200)).await;
    c.expect_closed(Duration::from_millis(300)).await;
}
