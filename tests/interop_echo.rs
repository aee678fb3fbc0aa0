//! Live interop of the echo with igloo-core 0.2.4 (tests/interop/echo.mjs), through a daemon's
//! built-in relay on 127.0.0.1:
//! * igloo-core's `awaitShareEcho` (Igloo Desktop's share-export confirmation) resolves when an
//!   igloo daemon starts with that share;
//! * igloo-core's `sendEcho` from a second device holding the same share makes igloo report
//!   "another device holds this share" on `/api/events`.
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

mod common;
mod interop_common;

use std::io::Write;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use common::TestServer;
use futures_util::StreamExt;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use interop_common::spawn_node_script;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Kills the JS process if the test fails half-way.
struct JsProc(Child);
impl Drop for JsProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `node echo.mjs` for `share` of `group` listening on `relays`; returns the process, its
/// stdin and a channel of its output lines.
fn spawn_echo_js(
    group: &str,
    share: &str,
    relays: &[String],
) -> (JsProc, std::process::ChildStdin, mpsc::Receiver<Value>) {
    let (tx, rx) = mpsc::channel::<Value>();
    let (child, mut stdin) = spawn_node_script("echo.mjs", "@frostr/igloo-core", move |v| {
        tx.send(v).is_ok()
    });
    let js = JsProc(child);
    let input = json!({ "group": group, "share": share, "relays": relays });
    writeln!(stdin, "{input}").expect("write input");
    (js, stdin, rx)
}

/// The next JSON line of the JS side (at most 45 s), which must not be an error.
fn next_line(rx: &mpsc::Receiver<Value>, what: &str) -> Value {
    let v = rx
        .recv_timeout(Duration::from_secs(45))
        .unwrap_or_else(|_| panic!("the JS side printed no {what}"));
    assert!(v.get("error").is_none(), "JS {what}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn igloo_core_await_share_echo_and_send_echo() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group);
    let share = encode_share(&ks.shares[0]);
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);

    let (js, mut stdin, rx) =
        spawn_echo_js(&group, share.as_str(), std::slice::from_ref(&relay_url));
    let next = |what: &str| next_line(&rx, what);
    assert_eq!(next("listening line")["listening"], json!(true));

    // Igloo starts with the exported share: its start-up echo confirms the export.
    let igloo = TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &group,
        "--share-cred",
        &share,
        "--relays",
        &relay_url,
        "--relay-enabled",
        "false",
    ]);
    assert_eq!(next("awaitShareEcho result")["echo"], json!(true));

    // A second device with the same share echoes: igloo reports it on its event stream.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/events", igloo.addr))
        .await
        .expect("event stream");
    writeln!(stdin, "send").expect("write");
    assert_eq!(next("sendEcho result")["sent"], json!(true));
    let warned = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).expect("json");
                if v["type"] == "warn"
                    && v["message"]
                        .as_str()
                        .is_some_and(|s| s.contains("Another device holds this share"))
                {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(warned, Ok(true), "igloo did not report the second device");
    drop(stdin);
    drop(js);
}

/// A TCP forwarder on 127.0.0.1:0 to `target` that holds every connection for `delay` before
/// forwarding it: a relay whose accept is slow, so it connects after the others.
async fn slow_forwarder(target: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    addr
}

/// Two relays; igloo-core listens only on the one igloo connects to last (its accept is
/// delayed 2 s): the start-up echo must reach it too (once per relay's first connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_echo_reaches_the_relay_that_connects_last() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group);
    let share = encode_share(&ks.shares[0]);
    let first = TestServer::start(&[]);
    let last = TestServer::start(&[]);
    let slow = slow_forwarder(last.addr, Duration::from_secs(2)).await;

    // The listener is only on the late relay.
    let (js, stdin, rx) = spawn_echo_js(&group, share.as_str(), &[format!("ws://{}", last.addr)]);
    assert_eq!(next_line(&rx, "listening line")["listening"], json!(true));

    let relays = format!("ws://{},ws://{}", first.addr, slow);
    let igloo = TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &group,
        "--share-cred",
        &share,
        "--relays",
        &relays,
        "--relay-enabled",
        "false",
    ]);
    assert_eq!(next_line(&rx, "awaitShareEcho result")["echo"], json!(true));
    // Both relays are connected.
    let status = common::get_json(&igloo.url("/api/status")).await;
    let states = status["relayStates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(states.len(), 2, "{status}");
    assert!(
        states.iter().all(|s| s["connected"] == json!(true)),
        "{status}"
    );
    drop(stdin);
    drop(js);
}
