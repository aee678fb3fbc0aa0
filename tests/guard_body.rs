//! GUARD body limits over a raw socket: a chunked body is stopped after the limit, answered
//! 413 before the client finishes sending, and never buffered whole.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::{TestServer, client};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHUNK: usize = 16 * 1024;

/// Resident memory of a process, in bytes.
fn rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

async fn send_chunk(s: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    s.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    s.write_all(data).await?;
    s.write_all(b"\r\n").await
}

/// Reads until the end of the response head; returns it as text.
async fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut byte).await.expect("read response");
        assert!(n > 0, "connection closed without a response");
        buf.extend_from_slice(&byte[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn chunked_ten_mib_body_gets_413_without_being_buffered() {
    // The real binary in its own process, so its memory is measured alone (in-process, the
    // other tests of this binary ran beside it and moved the figure by megabytes).
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::spawn(tmp.path(), &[]);
    let warm = client().get(d.url("/api/status")).send().await.unwrap();
    assert_eq!(warm.status(), 200);
    let before = rss(d.pid());
    assert!(before > 0, "no VmRSS for the daemon");
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    s.write_all(
        b"POST /api/sign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let data = vec![b' '; CHUNK];
    // 128 KiB: past the 100 KB limit of /api/sign, far from the 10 MiB the client means to send.
    for _ in 0..8 {
        send_chunk(&mut s, &data).await.unwrap();
    }
    let head = tokio::time::timeout(Duration::from_secs(10), read_head(&mut s))
        .await
        .expect("answered while the body is still incomplete");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // Keep pushing the rest of the 10 MiB; the server stops reading and closes.
    let mut sent = 8 * CHUNK;
    while sent < 10 * 1024 * 1024 {
        if send_chunk(&mut s, &data).await.is_err() {
            break;
        }
        sent += CHUNK;
    }
    let grown = rss(d.pid()).saturating_sub(before);
    assert!(
        grown < 4 * 1024 * 1024,
        "server memory grew by {grown} bytes for a refused body"
    );
    // The server still serves.
    let ok = client().get(d.url("/api/status")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn declared_length_over_the_limit_is_refused_with_json() {
    let srv = TestServer::start(&[]);
    let res = client()
        .post(srv.url("/api/peers/ping"))
        .header("content-type", "application/json")
        .body(vec![b' '; 65 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "REQUEST_TOO_LARGE");
}

#[tokio::test]
async fn bodies_within_the_limit_reach_the_handler() {
    let srv = TestServer::start(&[]);
    // 90 KB of whitespace then an invalid event: the sign handler sees the whole body and
    // answers with its own validation error, not 413 (sign allows 100 KB, others 64 KB).
    let mut body = vec![b' '; 90 * 1024];
    body.extend_from_slice(b"{}");
    let res = client()
        .post(srv.url("/api/sign"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 413);
    assert!(res.status().is_client_error() || res.status().is_server_error());
    let small = client()
        .post(srv.url("/api/peers/ping"))
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 413, "64 KB elsewhere");
}
