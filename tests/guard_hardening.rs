//! Issue 13 guards over real sockets: an `Upgrade` header skips no limit, every oversized
//! body gets the JSON 413, and only the exact origin the browser used counts as our own
//! (API with the session cookie, CORS preflights, both WebSockets).

mod common;

use std::time::Duration;

use common::{TestServer, client, onboard_admin, ws_upgrade};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const ADMIN_PASS: &str = "Gl4cier!Pw";

/// The headers of a complete WebSocket handshake, sent on a route that is not a WebSocket.
const HANDSHAKE: [(&str, &str); 4] = [
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
];

/// Sends `POST path` with `extra` headers and a body of `len` bytes (chunked when `chunked`)
/// over a raw socket, writing in the background, and returns the response head and body as
/// soon as they arrive.
async fn post_raw(
    srv: &TestServer,
    path: &str,
    extra: &[(&str, &str)],
    len: usize,
    chunked: bool,
) -> (String, String) {
    let s = TcpStream::connect(srv.addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n",
        srv.addr
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    }
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        // A JSON string of `len` bytes: a handler that reads it all answers 400, not 413.
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            if chunked {
                wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            }
            wr.write_all(&chunk[..n]).await?;
            if chunked {
                wr.write_all(b"\r\n").await?;
            }
            sent += n;
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(wr)
    });
    let mut buf = Vec::new();
    let read = async {
        let mut byte = [0u8; 4096];
        loop {
            let n = rd.read(&mut byte).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&byte[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((h, b)) = text.split_once("\r\n\r\n") {
                let want = h
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if b.len() >= want {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("an answer");
    writer.abort();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (h, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (h.to_string(), b.to_string())
}

fn assert_json_413(head: &str, body: &str, what: &str) {
    assert!(head.starts_with("HTTP/1.1 413"), "{what}: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{what}: {head}"
    );
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {body}"));
    assert_eq!(v["code"], "REQUEST_TOO_LARGE", "{what}: {v}");
    assert!(v["error"].is_string(), "{what}: {v}");
}

#[tokio::test]
async fn an_upgrade_header_does_not_skip_the_body_limit() {
    let srv = TestServer::start(&[]);
    // 1.9 MB: under axum's own 2 MB default, far over the 64 KB of login.
    let (head, body) = post_raw(
        &srv,
        "/api/auth/login",
        &[("upgrade", "websocket")],
        1_900_000,
        false,
    )
    .await;
    assert_json_413(&head, &body, "login with Upgrade: websocket");
    let (head, body) = post_raw(&srv, "/api/auth/login", &HANDSHAKE, 1_900_000, true).await;
    assert_json_413(&head, &body, "login with a whole handshake, chunked");
}

#[tokio::test]
async fn bodies_over_two_megabytes_get_the_json_413_on_every_route() {
    // Without rate limits: /api/recover allows 3 calls a window.
    let srv = TestServer::start(&["--rate-limit-enabled", "false"]);
    // Routes whose handlers take `Bytes` (axum's 2 MB default would answer text/plain), with
    // and without the headers that used to skip the limiter, declared and chunked.
    for path in [
        "/api/auth/login",
        "/api/sign",
        "/api/env",
        "/api/admin/users",
        "/api/nip44/encrypt",
        "/api/recover",
        "/api/no-such-route",
    ] {
        for extra in [&[][..], &HANDSHAKE[..]] {
            for chunked in [false, true] {
                let (head, body) = post_raw(&srv, path, extra, 2_500_000, chunked).await;
                let what = format!("{path} upgrade={} chunked={chunked}", !extra.is_empty());
                assert_json_413(&head, &body, &what);
            }
        }
    }
}

#[tokio::test]
async fn an_upgrade_header_does_not_move_a_request_out_of_its_bucket() {
    // From loopback, where real WebSocket upgrades are not counted at all.
    let srv = TestServer::start(&[]);
    let c = client();
    let mut plain = Vec::new();
    let mut disguised = Vec::new();
    for _ in 0..15 {
        let mut r = c.post(srv.url("/api/env")).body("{}");
        for (k, v) in HANDSHAKE {
            r = r.header(k, v);
        }
        disguised.push(r.send().await.unwrap().status().as_u16());
    }
    let srv2 = TestServer::start(&[]);
    for _ in 0..15 {
        let r = c.post(srv2.url("/api/env")).body("{}");
        plain.push(r.send().await.unwrap().status().as_u16());
    }
    let limited = |v: &[u16]| v.iter().filter(|s| **s == 429).count();
    assert_eq!(limited(&plain), 5, "10 env writes per window: {plain:?}");
    assert_eq!(limited(&disguised), limited(&plain), "{disguised:?}");
}

#[tokio::test]
async fn an_incomplete_handshake_on_a_websocket_route_is_refused() {
    let srv = TestServer::start(&[]);
    let res = client()
        .get(srv.url("/api/events"))
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], "BAD_UPGRADE");
}

// ---- origins ----

struct Origins {
    exact: String,
    others: Vec<String>,
}

fn origins(srv: &TestServer) -> Origins {
    let port = srv.addr.port();
    Origins {
        exact: format!("http://127.0.0.1:{port}"),
        others: vec![
            "http://127.0.0.1:9999".into(),
            format!("https://127.0.0.1:{port}"),
            "http://127.0.0.1".into(),
            format!("http://localhost:{port}"),
        ],
    }
}

#[tokio::test]
async fn only_the_exact_origin_reaches_the_api_with_the_session_cookie() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let cookie = format!("session={sid}");
    let o = origins(&srv);
    let c = client();
    let read = |origin: String| {
        c.get(srv.url("/api/user/relays"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .send()
    };
    let write = |origin: String| {
        c.post(srv.url("/api/user/relays"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .header("content-type", "application/json")
            .body(r#"{"relays":["wss://relay.example"]}"#)
            .send()
    };
    for other in &o.others {
        let r = read(other.clone()).await.unwrap();
        assert_eq!(r.status(), 403, "read from {other}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "ORIGIN_NOT_ALLOWED");
        assert_eq!(
            write(other.clone()).await.unwrap().status(),
            403,
            "write from {other}"
        );
    }
    let r = read(o.exact.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], o.exact.as_str());
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    assert_eq!(write(o.exact.clone()).await.unwrap().status(), 200);
    // Without an Origin (not a browser) the cookie still works.
    let r = c
        .get(srv.url("/api/user/credentials"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn preflights_from_another_port_or_scheme_are_refused() {
    let srv = TestServer::start(&[]);
    let o = origins(&srv);
    let pre = |origin: String| {
        client()
            .request(reqwest::Method::OPTIONS, srv.url("/api/user/credentials"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    for other in &o.others {
        let r = pre(other.clone()).await.unwrap();
        assert_eq!(r.status(), 403, "{other}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    let r = pre(o.exact.clone()).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], o.exact.as_str());
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn both_websockets_accept_only_the_exact_origin() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let cookie = format!("session={sid}");
    let o = origins(&srv);
    for path in ["/", "/api/events"] {
        for other in &o.others {
            assert_eq!(
                ws_upgrade(&srv, path, &[("origin", other), ("cookie", &cookie)]).await,
                Err(403),
                "{path} from {other}"
            );
        }
        assert_eq!(
            ws_upgrade(&srv, path, &[("origin", &o.exact), ("cookie", &cookie)]).await,
            Ok(()),
            "{path} from its own origin"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_scheme_and_host_are_the_origin() {
    let srv = TestServer::start(&["--trust-proxy", "true"]);
    let fwd = [
        ("x-forwarded-host", "igloo.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let with = |origin: &'static str| {
        let mut h = fwd.to_vec();
        h.push(("origin", origin));
        h
    };
    assert_eq!(
        ws_upgrade(&srv, "/", &with("https://igloo.example.com")).await,
        Ok(())
    );
    assert_eq!(
        ws_upgrade(&srv, "/", &with("http://igloo.example.com")).await,
        Err(403)
    );
    assert_eq!(
        ws_upgrade(&srv, "/", &with("https://igloo.example.com:8443")).await,
        Err(403)
    );
}

// ---- cookies ----

/// Logs in with these extra headers and returns the `Set-Cookie` of the answer.
async fn login_cookie(srv: &TestServer, extra: &[(&str, &str)]) -> String {
    let mut r = client()
        .post(srv.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"username":"admin","password":"{ADMIN_PASS}"}}"#
        ));
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["set-cookie"].to_str().unwrap().to_string()
}

async fn logout_cookie(srv: &TestServer, extra: &[(&str, &str)]) -> String {
    let mut r = client().post(srv.url("/api/auth/logout"));
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["set-cookie"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn cookies_are_secure_behind_a_tls_terminating_proxy() {
    let https = [("x-forwarded-proto", "https")];
    let http = [("x-forwarded-proto", "http")];
    let proxied =
        TestServer::start_auth(&["--admin-secret", ADMIN_SECRET, "--trust-proxy", "true"]);
    onboard_admin(&proxied, ADMIN_SECRET, ADMIN_PASS).await;
    assert!(login_cookie(&proxied, &https).await.contains("; Secure"));
    assert!(logout_cookie(&proxied, &https).await.contains("; Secure"));
    assert!(!login_cookie(&proxied, &http).await.contains("Secure"));
    assert!(!login_cookie(&proxied, &[]).await.contains("Secure"));
    // The password change clears the cookie, Secure too on https.
    let sid = common::login_as(&proxied, "admin", ADMIN_PASS).await;
    let res = client()
        .post(proxied.url("/api/user/password"))
        .header("x-session-id", sid)
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"currentPassword":"{ADMIN_PASS}","newPassword":"N3w!Passw0rd"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    // Without TRUST_PROXY the header is anybody's word: no Secure on plain http.
    let direct = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    onboard_admin(&direct, ADMIN_SECRET, ADMIN_PASS).await;
    assert!(!login_cookie(&direct, &https).await.contains("Secure"));
}

// ---- HTTP/2 ----

/// One request over HTTP/2 and TLS (as browsers speak to igloo on the LAN): no `Host` header,
/// the authority travels in the URI. Returns the status.
async fn h2_request(srv: &TestServer, method: &str, path: &str, origin: &str) -> u16 {
    let cert = srv.data_dir.join("tls/cert.pem");
    let (certs, _) = igloo::tls::load(&cert, &cert.with_file_name("key.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs[0].clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(srv.addr.ip().into());
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let req = axum::http::Request::builder()
        .method(method)
        .uri(format!("https://{}{path}", srv.addr))
        .header("origin", origin)
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let (res, mut body) = client.send_request(req, false).unwrap();
    body.send_data(bytes::Bytes::from_static(b"{}"), true)
        .unwrap();
    res.await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_exact_origin_is_recognised_over_http2() {
    let srv = TestServer::start(&["--tls", "self-signed"]);
    let own = format!("https://127.0.0.1:{}", srv.addr.port());
    // A write from the page's own origin reaches the handler (its own 4xx/5xx, not 403).
    let status = h2_request(&srv, "POST", "/api/recover/validate", &own).await;
    assert_ne!(status, 403, "own origin over HTTP/2");
    let other = format!("http://127.0.0.1:{}", srv.addr.port());
    assert_eq!(
        h2_request(&srv, "POST", "/api/recover/validate", &other).await,
        403
    );
}

#[tokio::test]
async fn the_relay_echoes_the_first_offered_subprotocol() {
    // As igloo-server: a browser refuses a socket whose answer names none of its protocols.
    let srv = TestServer::start(&[]);
    let mut req = format!("ws://{}/", srv.addr).into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("nostr, other"),
    );
    let (mut ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(res.headers()["sec-websocket-protocol"], "nostr");
    let _ = ws.close(None).await;
}
