//! `scripts/bench nip46`: NIP-46 `sign_event` round trips from a real nostr-tools
//! `BunkerSigner` (tests/interop/nip46-client.mjs) to an igloo daemon, 2-of-2 with another
//! igloo daemon answering, all on a loopback igloo relay; p50/p99 over 200 signatures, for a
//! v1 (bifrost) and a V2 (bifrost-rs) keyset, and for v1 also with a JavaScript
//! `@frostr/bifrost` 1.0.7 node (tests/interop/js-peer.mjs) as the other member. Each round:
//! the app encrypts (NIP-44 v2) and publishes the request, igloo decrypts, asks its peer,
//! aggregates, answers; the app decrypts and runs `verifyEvent`. Needs
//! `npm ci --prefix tests/interop`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/interop_common/mod.rs"]
mod interop_common;
#[path = "live_common/mod.rs"]
mod live_common;
#[path = "../tests/nip46_common/mod.rs"]
mod nip46_common;

use std::time::Duration;

use common::TestServer;
use igloo::frostr::keyset::generate;
use interop_common::{JsPeer, igloo, sign_until_ok, v2_node, wait_connected};
use live_common::{header, row};
use nip46_common::{api, pair_bunker};
use reqwest::Method;
use serde_json::{Value, json};

const N: usize = 200;
const WARMUP: usize = 20;

/// Pairs a BunkerSigner with `signer`, allows kind 1, and times `WARMUP + N` signatures.
async fn nip46_times(signer: &TestServer) -> Vec<f64> {
    let (mut app, client, _) = pair_bunker(signer).await;
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
    let v1_js = {
        let ks = generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
        let a = igloo(&ks.group, &ks.shares[0], &url, 10_000);
        let mut js = JsPeer::spawn();
        js.start(&ks.group, &ks.shares[1], &url).await;
        wait_connected(&a).await;
        sign_until_ok(&a, &rand::random(), Duration::from_secs(60)).await;
        let ms = nip46_times(&a).await;
        drop(js);
        ms
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
    println!("\nNIP-46 sign_event round trips, nostr-tools BunkerSigner → igloo (2-of-2), ms");
    header("");
    row("v1 keyset (bifrost), igloo peer", v1);
    row("v1 keyset (bifrost), bifrost 1.0.7 JS peer", v1_js);
    row("V2 keyset (bifrost-rs), igloo peer", v2);
}
