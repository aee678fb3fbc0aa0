//! `scripts/bench sign`: end-to-end threshold-signing latency on a loopback relay, p50/p99 over
//! 200 signatures of a 2-of-3 group:
//!   (a) `POST /api/sign` on an igloo daemon, an igloo daemon answering;
//!   (b) a JS (`@frostr/bifrost`) requester, the igloo binary answering in its own process
//!       ((b'): the same, igloo answering from inside the bench process);
//!   (c) the same JS requester, a JS node answering in its own process.
//! It also prints where the JS requester's time goes (request out, relay OK, reply in, result):
//! "res-pub" is the responder's share (relay both ways included); the rest is the JS
//! requester's own work, which depends on the machine's load. (b') runs first and so also
//! absorbs the JS requester's JIT warm-up.
//! Not a criterion bench: the figures wanted are tail latencies of a live network round, so it
//! times each signature and prints a table. Needs `npm ci --prefix tests/interop`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/interop_common/mod.rs"]
mod interop_common;
#[path = "live_common/mod.rs"]
mod live_common;

use std::time::{Duration, Instant};

use common::client;
use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use interop_common::{IglooProcess, JsPeer, igloo, sign_until_ok, v2_node, verify, wait_connected};
use live_common::{percentile, row};
use serde_json::{Value, json};

const N: usize = 200;
const WARMUP: usize = 10;

/// `WARMUP + N` sequential `POST /api/sign` calls; the last `N` timings in ms.
async fn api_times(server: &common::TestServer) -> Vec<f64> {
    let http = client();
    let mut times = Vec::with_capacity(N);
    for i in 0..WARMUP + N {
        let msg: [u8; 32] = rand::random();
        let t0 = Instant::now();
        let r = http
            .post(server.url("/api/sign"))
            .json(&json!({"message": hex::encode(msg)}))
            .send()
            .await
            .expect("sign request");
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        assert!(status.is_success(), "sign {i}: {status} {body}");
        if i >= WARMUP {
            times.push(ms);
        }
    }
    times
}

/// Median of one phase (ms after the signature's start) over a JS `bench_sign` run.
fn phase_p50(v: &Value, key: &str) -> f64 {
    let mut xs: Vec<f64> = v["phases"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p[key].as_f64()).collect())
        .unwrap_or_default();
    xs.sort_by(|a, b| a.total_cmp(b));
    percentile(&xs, 50.0)
}

/// Where a JS requester's time goes: request handed to the relay pool, the relay's OK, the
/// responder's `/sign/res` arriving, and the aggregated result (p50s, ms from the start).
fn phase_row(name: &str, v: &Value) {
    let (p, a, r, e) = (
        phase_p50(v, "pub"),
        phase_p50(v, "ack"),
        phase_p50(v, "res"),
        phase_p50(v, "end"),
    );
    println!(
        "{name:<44} {p:>9.2} {a:>9.2} {r:>9.2} {e:>9.2} {:>9.2}",
        r - p
    );
}

/// Warm `req` up against `peer` (seed byte `tag` for the first message), then time N
/// signatures; the raw `bench_sign` answer.
async fn js_run(req: &mut JsPeer, peer: &str, tag: u8, wait: Duration) -> Value {
    req.retry_ok(
        json!({"cmd": "sign", "message": hex::encode([tag; 32]), "peers": [peer]}),
        Duration::from_secs(60),
    )
    .await;
    req.call_within(
        json!({"cmd": "bench_sign", "n": WARMUP, "peers": [peer]}),
        wait,
    )
    .await;
    req.call_within(json!({"cmd": "bench_sign", "n": N, "peers": [peer]}), wait)
        .await
}

fn js_times(v: &Value) -> Vec<f64> {
    assert_eq!(v["ok"], json!(true), "JS bench failed: {v}");
    v["ms"]
        .as_array()
        .expect("ms")
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; a filter that names nothing here skips the run.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "sign_live".contains(a.as_str())) {
        return;
    }
    if !interop_common::interop_dir()
        .join("node_modules/@frostr/bifrost")
        .is_dir()
    {
        println!(
            "sign_live skipped: run `npm ci --prefix tests/interop` (scripts/bench sign does)"
        );
        return;
    }
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group_x = ks.group.pubkey_x_only();
    let v2ks = igloo::frostr_v2::keyset::generate("bench", 2, 3, &mut rand::thread_rng())
        .expect("V2 keyset");
    let v2_group_x = v2ks.group.group_pk;
    let relay = common::TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let a = igloo(&ks.group, &ks.shares[0], &url, 10_000);
    let b = igloo(&ks.group, &ks.shares[1], &url, 10_000);
    wait_connected(&a).await;
    wait_connected(&b).await;

    // (a) POST /api/sign with igloo B answering (B is the only other member online).
    let warm: [u8; 32] = rand::random();
    assert!(verify(
        &group_x,
        &warm,
        &sign_until_ok(&a, &warm, Duration::from_secs(60)).await
    ));
    let times_a = api_times(&a).await;
    drop(b);

    // (d) FROSTR V2: POST /api/sign on an igloo V2 node, another igloo V2 node answering.
    let times_d = {
        let (d1, d2) = (v2_node(&v2ks, 0, &url), v2_node(&v2ks, 1, &url));
        wait_connected(&d1).await;
        wait_connected(&d2).await;
        let warm: [u8; 32] = rand::random();
        let sig = sign_until_ok(&d1, &warm, Duration::from_secs(60)).await;
        assert!(verify(&v2_group_x, &warm, &sig), "V2 signature");
        api_times(&d1).await
    };

    // (b) and (c): one JS requester (member 2); igloo (member 1) or a JS node (member 3).
    let mut req = JsPeer::spawn();
    req.start(&ks.group, &ks.shares[1], &url).await;
    let ig_x = hex::encode(x_only(&ks.shares[0].public_key()));
    let wait = Duration::from_secs(600);
    // (b') igloo A answering from inside this process, (b) the igloo binary answering as its
    // own process — as (c)'s JS node does.
    let run_b_in = js_run(&mut req, &ig_x, 1, wait).await;
    drop(a);
    let a_proc = IglooProcess::spawn(&ks.group, &ks.shares[0], &url, 10_000, &[]);
    a_proc.wait_connected().await;
    let run_b = js_run(&mut req, &ig_x, 2, wait).await;
    drop(a_proc);

    let mut js3 = JsPeer::spawn();
    js3.start(&ks.group, &ks.shares[2], &url).await;
    let js3_x = hex::encode(x_only(&ks.shares[2].public_key()));
    let run_c = js_run(&mut req, &js3_x, 3, wait).await;

    println!("\nthreshold signing, 2-of-3, loopback relay (ms per signature)");
    live_common::header("scenario");
    let (a50, _) = row("(a) POST /api/sign, igloo responder", times_a);
    row(
        "(b') JS requester, igloo in the bench process",
        js_times(&run_b_in),
    );
    let (b50, _) = row(
        "(b) JS requester, igloo responder process",
        js_times(&run_b),
    );
    let (c50, _) = row("(c) JS requester, JS responder process", js_times(&run_c));
    row("(d) V2: POST /api/sign, igloo V2 responder", times_d);
    println!("\nJS requester phases, p50 ms from the start of each signature");
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "pub", "relay ok", "res", "end", "res-pub"
    );
    phase_row("(b') igloo in the bench process", &run_b_in);
    phase_row("(b) igloo responder process", &run_b);
    phase_row("(c) JS responder", &run_c);
    println!(
        "\ntargets: (a) p50 < 10 ms: {}; (b) faster than (c): {}",
        if a50 < 10.0 { "met" } else { "MISSED" },
        if b50 < c50 { "met" } else { "MISSED" }
    );
}
