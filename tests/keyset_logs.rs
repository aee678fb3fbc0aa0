//! Migrating and importing at trace level logs none of the secrets involved: v1 shares,
//! the package password, the packages, the V2 share secrets.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TestServer, client};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr_v2::credentials::decode_onboard;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_import_log_no_secret() {
    let buf = Buf::default();
    let writer = buf.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let key = "headless-key-logs-1";
    let pw = "log test password 9";
    let srv = TestServer::start_auth(&[
        "--headless",
        "true",
        "--api-key",
        key,
        "--relays",
        "ws://127.0.0.1:9",
    ]);
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let shares: Vec<String> = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let res = client()
        .post(srv.url("/api/keyset/migrate"))
        .header("x-api-key", key)
        .json(&json!({"group": group, "shares": [shares[0], shares[1]], "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    let onboard = body["onboard"][0]["bfonboard"]
        .as_str()
        .unwrap()
        .to_string();
    let res = client()
        .post(srv.url("/api/keyset/import"))
        .header("x-api-key", key)
        .json(&json!({"bfonboard": onboard, "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v2_secret = hex::encode(
        decode_onboard(&onboard, pw)
            .unwrap()
            .share_secret
            .to_bytes()
            .as_slice(),
    );
    drop(srv);
    let logs = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("keyset migrated to V2"),
        "the flow was logged"
    );
    for (what, secret) in [
        ("v1 share 1", shares[0].as_str()),
        ("v1 share 2", shares[1].as_str()),
        ("password", pw),
        ("bfonboard", onboard.as_str()),
        ("V2 share secret", v2_secret.as_str()),
        ("API key", key),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}
