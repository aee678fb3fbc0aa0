//! Relay benchmark (issue 4): ingest events/s with 50 publishers, REQ/s for a stored query
//! (criterion), fan-out latency p50/p99 to a subscriber of everything at a paced 5,000
//! events/s, and the relay process's RSS under load and at the default caps.
//!
//! The relay under test runs in a child process (this same binary with
//! `IGLOO_RELAY_BENCH_ROLE=serve`, on a current-thread runtime like the daemon) so its RSS is
//! its own. Set `RELAY_BASELINE_BIN` to a server binary that prints `PORT <n>` on stdout (the
//! `nostr-relay-builder` baseline built by `scripts/bench relay`) to run the same harness
//! against it in the same run.

#[path = "../tests/relay_common/mod.rs"]
mod relay_common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use nostr::prelude::*;
use relay_common::{Signer, now};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;

const ROLE_ENV: &str = "IGLOO_RELAY_BENCH_ROLE";
const PUBLISHERS: usize = 50;
/// Events each publisher sends per criterion iteration.
const PER_PUBLISHER: usize = 40;
const FANOUT_RATE: u64 = 5_000;
const FANOUT_SECONDS: u64 = 3;

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("serve") {
        serve();
        return;
    }
    let mut targets = vec![Target::spawn("igloo", std::env::current_exe().ok())];
    if let Ok(bin) = std::env::var("RELAY_BASELINE_BIN") {
        targets.push(Target::spawn("baseline", Some(bin.into())));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    let mut reports = Vec::new();
    for t in &targets {
        bench_ingest(&mut c, &rt, t);
        bench_req(&mut c, &rt, t);
        let (p50, p99, lost) = rt.block_on(fanout_latency(&t.url));
        let rss_load = t.rss_kib();
        rt.block_on(fill_to_caps(&t.url));
        let rss_caps = t.rss_kib();
        reports.push(format!(
            "{}: fan-out at {FANOUT_RATE}/s: p50 {:.2} ms, p99 {:.2} ms, lost {lost}; \
             RSS after load {} KiB, after filling the default caps {} KiB (peak {} KiB)",
            t.name,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            rss_load.0,
            rss_caps.0,
            rss_caps.1,
        ));
    }
    c.final_summary();
    for r in reports {
        println!("{r}");
    }
}

/// Child role: serve the igloo relay on 127.0.0.1:0 on a current-thread runtime.
fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        // Default limits except the per-connection message rate, which would otherwise cap
        // 50 publishers at 5,000 events/s (the baseline has no such limit).
        let cfg = igloo::relay::RelayConfig {
            messages_per_second: 0,
            ..Default::default()
        };
        let relay = igloo::relay::Relay::new(cfg);
        relay.spawn_maintenance(std::future::pending());
        let _ = igloo::relay::run(listener, relay, std::future::pending()).await;
    });
}

struct Target {
    name: &'static str,
    url: String,
    child: Child,
}

impl Target {
    fn spawn(name: &'static str, bin: Option<std::path::PathBuf>) -> Self {
        let bin = bin.expect("benchmark binary path");
        let mut child = Command::new(bin)
            .env(ROLE_ENV, "serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start relay process");
        let stdout = child.stdout.take().expect("child stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read PORT line");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("child printed PORT <n>");
        Self {
            name,
            url: format!("ws://127.0.0.1:{port}/"),
            child,
        }
    }

    /// (VmRSS, VmHWM) of the relay process in KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("connect")
        .0
}

/// Pre-signed distinct events (signing is not what we measure).
fn sign_batch(signers: &[Signer], n: usize, content_len: usize, seq: &mut u64) -> Vec<String> {
    let pad = "x".repeat(content_len);
    (0..n)
        .map(|i| {
            *seq += 1;
            let s = &signers[i % signers.len()];
            let e = s.event(1, &format!("{}{pad}", *seq), &[], now());
            ClientMessage::event(e).as_json()
        })
        .collect()
}

/// Send every message on one connection, pipelined, and wait for all OKs.
async fn publish_all(ws: &mut Ws, msgs: &[String]) -> usize {
    let (mut tx, mut rx) = ws.split();
    let n = msgs.len();
    let reader = async {
        let mut ok = 0;
        let mut seen = 0;
        while seen < n {
            match rx.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let Some(status) = ok_status(t.as_str()) {
                        seen += 1;
                        ok += usize::from(status);
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        ok
    };
    let writer = async {
        for m in msgs {
            if tx.feed(Message::Text(m.clone().into())).await.is_err() {
                break;
            }
        }
        let _ = tx.flush().await;
    };
    let (ok, ()) = tokio::join!(reader, writer);
    ok
}

/// The status of an `OK` message. Parsed as a borrowed tuple rather than a `RelayMessage`: the
/// client shares the machine's cores with the relay, so its own per-message work is kept small.
fn ok_status(text: &str) -> Option<bool> {
    // The message may hold escapes (no borrowed &str): skip it without building it.
    match serde_json::from_str::<(&str, &str, bool, serde::de::IgnoredAny)>(text) {
        Ok(("OK", _, status, _)) => Some(status),
        _ => None,
    }
}

fn bench_ingest(c: &mut Criterion, rt: &Runtime, t: &Target) {
    let signers: Vec<Signer> = (1..=PUBLISHERS as u64).map(Signer::new).collect();
    let mut conns: Vec<Ws> = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..PUBLISHERS {
            v.push(connect(&t.url).await);
        }
        v
    });
    let mut seq = 0u64;
    let mut g = c.benchmark_group(format!("relay_ingest/{}", t.name));
    g.throughput(Throughput::Elements((PUBLISHERS * PER_PUBLISHER) as u64));
    g.bench_function("50_publishers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batches: Vec<Vec<String>> = (0..PUBLISHERS)
                    .map(|_| sign_batch(&signers, PER_PUBLISHER, 200, &mut seq))
                    .collect();
                let start = Instant::now();
                let accepted = rt.block_on(async {
                    let jobs = conns
                        .iter_mut()
                        .zip(batches.iter())
                        .map(|(ws, msgs)| publish_all(ws, msgs));
                    futures_util::future::join_all(jobs)
                        .await
                        .into_iter()
                        .sum::<usize>()
                });
                total += start.elapsed();
                let refused = (PUBLISHERS * PER_PUBLISHER).saturating_sub(accepted);
                if refused > 0 {
                    eprintln!("{}: {refused} events refused during ingest", t.name);
                }
            }
            total
        });
    });
    g.finish();
}

fn bench_req(c: &mut Criterion, rt: &Runtime, t: &Target) {
    let signers: Vec<Signer> = (1000..1010).map(Signer::new).collect();
    let target = signers[3].pubkey;
    let mut ws = rt.block_on(async {
        let mut ws = connect(&t.url).await;
        let mut seq = 1_000_000;
        let msgs = sign_batch(&signers, 1_000, 200, &mut seq);
        publish_all(&mut ws, &msgs).await;
        ws
    });
    let filter = Filter::new().author(target).kind(Kind::TextNote).limit(10);
    let mut n = 0u64;
    let mut g = c.benchmark_group(format!("relay_req/{}", t.name));
    g.throughput(Throughput::Elements(1));
    g.bench_function("stored_query_limit10", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    n += 1;
                    let sub = SubscriptionId::new(format!("q{n}"));
                    let req = ClientMessage::req(sub.clone(), vec![filter.clone()]).as_json();
                    ws.send(Message::Text(req.into())).await.expect("send REQ");
                    let mut events = 0;
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) => {
                                match RelayMessage::from_json(t.as_str()) {
                                    Ok(RelayMessage::Event {
                                        subscription_id, ..
                                    }) if *subscription_id == sub => events += 1,
                                    Ok(RelayMessage::EndOfStoredEvents(id)) if *id == sub => {
                                        break;
                                    }
                                    _ => {}
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => panic!("connection lost"),
                        }
                    }
                    assert_eq!(events, 10, "stored query returns its limit");
                    let close = ClientMessage::close(sub).as_json();
                    ws.send(Message::Text(close.into()))
                        .await
                        .expect("send CLOSE");
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

/// Publish at a paced `FANOUT_RATE` for `FANOUT_SECONDS`; a subscriber of everything
/// timestamps arrivals. Returns (p50, p99, events not received).
async fn fanout_latency(url: &str) -> (Duration, Duration, usize) {
    let total = (FANOUT_RATE * FANOUT_SECONDS) as usize;
    let signers: Vec<Signer> = (2000..2010).map(Signer::new).collect();
    let mut seq = 2_000_000;
    // Kind 20001 (ephemeral): pure fan-out, no storage effects.
    let msgs: Vec<(EventId, String)> = (0..total)
        .map(|i| {
            seq += 1;
            let e = signers[i % signers.len()].event(20001, &format!("{seq}"), &[], now());
            (e.id, ClientMessage::event(e).as_json())
        })
        .collect();
    let mut sub = connect(url).await;
    let req = ClientMessage::req(SubscriptionId::new("all"), vec![Filter::new().limit(0)]);
    sub.send(Message::Text(req.as_json().into()))
        .await
        .expect("REQ");
    while let Some(Ok(m)) = sub.next().await {
        if let Message::Text(t) = m {
            if matches!(
                RelayMessage::from_json(t.as_str()),
                Ok(RelayMessage::EndOfStoredEvents(_))
            ) {
                break;
            }
        }
    }
    let sent_at: Arc<std::sync::Mutex<std::collections::HashMap<EventId, Instant>>> =
        Arc::default();
    let pubws = connect(url).await;
    let (mut ptx, mut prx) = pubws.split();
    // Drain OKs so the relay never waits on us.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = prx.next().await {} });
    let stamps = Arc::clone(&sent_at);
    let publisher = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let period = Duration::from_nanos(1_000_000_000 / FANOUT_RATE);
        for (i, (id, m)) in msgs.into_iter().enumerate() {
            tokio::time::sleep_until(start + period * i as u32).await;
            stamps.lock().expect("stamps").insert(id, Instant::now());
            if ptx.send(Message::Text(m.into())).await.is_err() {
                break;
            }
        }
    });
    let mut latencies = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs(FANOUT_SECONDS + 5);
    while latencies.len() < total && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(m))) = tokio::time::timeout(left, sub.next()).await else {
            break;
        };
        let arrived = Instant::now();
        if let Message::Text(t) = m {
            if let Ok(RelayMessage::Event { event, .. }) = RelayMessage::from_json(t.as_str()) {
                if let Some(at) = sent_at.lock().expect("stamps").get(&event.id) {
                    latencies.push(arrived.saturating_duration_since(*at));
                }
            }
        }
    }
    let _ = publisher.await;
    drain.abort();
    let lost = total - latencies.len();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(Duration::MAX)
    };
    (pct(0.50), pct(0.99), lost)
}

/// Fill the store past its default caps (10,000 events / 16 MiB) with ~1.7 KB events.
async fn fill_to_caps(url: &str) {
    let signers: Vec<Signer> = (3000..3010).map(Signer::new).collect();
    let mut seq = 3_000_000;
    let msgs = sign_batch(&signers, 12_000, 1_500, &mut seq);
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(connect(url).await);
    }
    let jobs = conns
        .iter_mut()
        .zip(msgs.chunks(3_000))
        .map(|(ws, chunk)| publish_all(ws, chunk));
    futures_util::future::join_all(jobs).await;
    // Let the relay settle before reading RSS.
    tokio::time::sleep(Duration::from_millis(500)).await;
}
