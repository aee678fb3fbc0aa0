//! `scripts/bench nip46`: NIP-46 `sign_event` round trips from a real nostr-tools
//! `BunkerSigner` (tests/interop/nip46-client.mjs) to an igloo daemon, 2-of-2 with another
//! igloo daemon answering, all on a loopback igloo relay; p50/p99 over 200 signatures, for a
//! v1 (bifrost) and a V2 (bifrost-rs) keyset. Each round: the app encrypts (NIP-44 v2) and
//! publishes the request, igloo decrypts, asks its peer, aggregates, answers; the app
//! decrypts and runs `verifyEvent`. Needs `npm ci --prefix tests/interop`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/interop_common/mod.rs"]
mod interop_common;
#[path = "../tests/nip46_common/mod.rs"]
mod nip46_common;

use std::time::Duration;

use common::{TestServer, call};
use igloo::frostr::keyset::generate;
use igloo::frostr_v2::credentials::{KdfParams, Profile, encode_profile};
use interop_common::{igloo, sign_until_ok, wait_connected};
use nip46_common::Js;
use reqwest::Method;
use serde_json::{Value, json};

const N: usize = 200;
const WARMUP: usize = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn row(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    println!(
        "{name:<40} {:>5} {:>9.2} {:>9.2} {mean:>9.2} {:>9.2}",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn v2_node(ks: &igloo::frostr_v2::keyset::Keyset, i: usize, relay: &str) -> TestServer {
    const PW: &str = "bench password";
    let profile = encode_profile(
        &Profile {
            name: format!("bench-{i}"),
            share_secret: ks.shares[i].secret.clone(),
            relays: vec![relay.to_string()],
            policy_overrides: vec![],
            group: ks.group.clone(),
        },
        PW,
        KdfParams::FLOOR,
        &mut rand::thread_rng(),
    )
    .expect("bfprofile");
    TestServer::start(&[
        "--headless",
        "true",
        "--share-cred",
        &profile,
        "--share-password",
        PW,
        "--relays",
        relay,
    ])
}

async fn api(srv: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (code, v, _) = call(srv, method.clone(), path, None, body).await;
    assert_eq!(code, 200, "{method} {path}: {v}");
    v
}

/// Pairs a BunkerSigner with `signer`, allows kind 1, and times `WARMUP + N` signatures.
async fn nip46_times(signer: &TestServer) -> Vec<f64> {
    let uri = api(signer, Method::POST, "/api/nip46/bunker", None).await["uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    let mut app = Js::start();
    let r = app.cmd(json!({"op": "bunker", "uri": uri, "timeout": 20000}));
    let client = r["client"]
        .as_str()
        .unwrap_or_else(|| panic!("connect: {r}"));
    api(
        signer,
        Method::PUT,
        &format!("/api/nip46/sessions/{client}/policy"),
        Some(json!({"methods": {"sign_event": true}, "kinds": {"1": true}})),
    )
    .await;
    let r = app.cmd(json!({"op": "bench", "n": WARMUP + N, "timeout": 20000}));
    let ms: Vec<f64> = r["ms"]
        .as_array()
        .unwrap_or_else(|| panic!("bench: {r}"))
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    ms[WARMUP..].to_vec()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "nip46_live".contains(a.as_str())) {
        return;
    }
    if !interop_common::interop_dir()
        .join("node_modules/nostr-tools")
        .is_dir()
    {
        println!(
            "nip46_live skipped: run `npm ci --prefix tests/interop` (scripts/bench nip46 does)"
        );
        return;
    }
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);

    let v1 = {
        let ks = generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
        let a = igloo(&ks.group, &ks.shares[0], &url, 10_000);
        let b = igloo(&ks.group, &ks.shares[1], &url, 10_000);
        wait_connected(&a).await;
        wait_connected(&b).await;
        sign_until_ok(&a, &rand::random(), Duration::from_secs(60)).await;
        nip46_times(&a).await
    };
    let v2 = {
        let ks = igloo::frostr_v2::keyset::generate("bench", 2, 2, &mut rand::thread_rng())
            .expect("V2 keyset");
        let (a, b) = (v2_node(&ks, 0, &url), v2_node(&ks, 1, &url));
        wait_connected(&a).await;
        wait_connected(&b).await;
        sign_until_ok(&a, &rand::random(), Duration::from_secs(60)).await;
        nip46_times(&a).await
    };
    println!(
        "\nNIP-46 sign_event round trips, nostr-tools BunkerSigner → igloo (2-of-2, igloo peer), ms"
    );
    println!(
        "{:<40} {:>5} {:>9} {:>9} {:>9} {:>9}",
        "", "n", "p50", "p99", "mean", "max"
    );
    row("v1 keyset (bifrost), igloo peer", v1);
    row("V2 keyset (bifrost-rs), igloo peer", v2);
}
