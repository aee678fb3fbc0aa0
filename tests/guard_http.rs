//! GUARD over real sockets: per-address rate limits, CORS and security headers.

mod common;

use common::{TestServer, client};
use serde_json::Value;

/// POSTs to `path` as `forwarded` (sent as X-Forwarded-For) and returns the status.
async fn hit(c: &reqwest::Client, srv: &TestServer, path: &str, forwarded: &str) -> u16 {
    c.post(srv.url(path))
        .header("x-forwarded-for", forwarded)
        .header("content-type", "application/json")
        .body(r#"{"username":"admin","password":"wrong"}"#)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_thousand_login_hits_from_one_address_do_not_lock_out_another() {
    let srv = TestServer::start(&["--trust-proxy", "true"]);
    let c = client();
    let mut limited = 0;
    for _ in 0..1000 {
        if hit(&c, &srv, "/api/auth/login", "127.0.0.1").await == 429 {
            limited += 1;
        }
    }
    // RATE_LIMIT_MAX defaults to 600 per window in database mode; the login throttle slows
    // the failing address (and the targeted user name) down well before that.
    assert!(
        limited >= 400,
        "the 601st and later hits are limited ({limited})"
    );
    let other = c
        .post(srv.url("/api/auth/login"))
        .header("x-forwarded-for", "127.0.0.2")
        .header("content-type", "application/json")
        .body(r#"{"username":"someone-else","password":"wrong"}"#)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(other, 401, "another address is not locked out");
    // Another bucket of the limited address is untouched.
    assert_ne!(hit(&c, &srv, "/api/status", "127.0.0.1").await, 429);
}

#[tokio::test]
async fn limited_answers_are_json_with_retry_after() {
    let srv = TestServer::start(&["--rate-limit-max", "3", "--rate-limit-window", "120"]);
    let c = client();
    for _ in 0..3 {
        assert_ne!(hit(&c, &srv, "/api/sign", "9.9.9.9").await, 429);
    }
    let res = c
        .post(srv.url("/api/sign"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    assert!(body["error"].as_str().unwrap().contains("Rate limit"));
}

#[tokio::test]
async fn forwarding_headers_are_ignored_without_trust_proxy() {
    // Each request claims another address; without TRUST_PROXY all count as the peer's.
    let srv = TestServer::start(&["--rate-limit-max", "5"]);
    let c = client();
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(hit(&c, &srv, "/api/sign", &format!("10.1.1.{i}")).await);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn rate_limits_can_be_switched_off() {
    let srv = TestServer::start(&["--rate-limit-max", "2", "--rate-limit-enabled", "false"]);
    let c = client();
    for _ in 0..10 {
        assert_ne!(hit(&c, &srv, "/api/sign", "1.1.1.1").await, 429);
    }
}

#[tokio::test]
async fn recovery_and_env_write_have_their_own_small_buckets() {
    let srv = TestServer::start(&[]);
    let c = client();
    let codes: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(hit(&c, &srv, "/api/recover", "x").await);
        }
        v
    };
    assert_eq!(
        codes.iter().filter(|s| **s == 429).count(),
        1,
        "3 per window: {codes:?}"
    );
    let mut env = Vec::new();
    for _ in 0..11 {
        env.push(hit(&c, &srv, "/api/env", "x").await);
    }
    assert_eq!(
        env.iter().filter(|s| **s == 429).count(),
        1,
        "10 per window: {env:?}"
    );
    // Reading the configuration is not a write.
    let get = c.get(srv.url("/api/env")).send().await.unwrap();
    assert_ne!(get.status(), 429);
}

#[tokio::test]
async fn cors_allows_the_own_host_and_listed_origins_only() {
    let srv = TestServer::start(&["--allowed-origins", "https://app.example"]);
    let c = client();
    let own = format!("http://127.0.0.1:{}", srv.addr.port());
    let own = own.as_str();
    // Preflight from a listed origin: 204 with methods, headers and credentials.
    let pre = c
        .request(reqwest::Method::OPTIONS, srv.url("/api/sign"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("X-API-Key")
    );
    // Preflight from an evil origin: 403.
    let evil = c
        .request(reqwest::Method::OPTIONS, srv.url("/api/sign"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    // A simple GET from the box's own origin is reflected; evil gets nothing.
    let get = c
        .get(srv.url("/api/status"))
        .header("origin", own)
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["access-control-allow-origin"], own);
    assert!(get.headers()["vary"].to_str().unwrap().contains("Origin"));
    let get = c
        .get(srv.url("/api/status"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert!(get.headers().get("access-control-allow-origin").is_none());
    // A cross-site write from an unlisted origin never reaches the handler.
    let post = c
        .post(srv.url("/api/peers/ping"))
        .header("origin", "https://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    let body: Value = post.json().await.unwrap();
    assert_eq!(body["code"], "ORIGIN_NOT_ALLOWED");
}

#[tokio::test]
async fn wildcard_origin_never_gets_credentials() {
    let srv = TestServer::start(&["--allowed-origins", "*"]);
    let res = client()
        .get(srv.url("/api/status"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[tokio::test]
async fn html_pages_carry_security_headers_in_every_mode() {
    let srv = TestServer::start(&[]);
    let c = client();
    for path in ["/", "/api/docs/"] {
        let res = c.get(srv.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS without TLS"
        );
    }
    let json = c.get(srv.url("/api/status")).send().await.unwrap();
    assert_eq!(json.headers()["x-content-type-options"], "nosniff");
    assert!(json.headers().get("content-security-policy").is_none());
}

/// GET over HTTPS trusting exactly the server's self-signed certificate; the raw response.
async fn https_get(srv: &TestServer, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = srv.data_dir.join("tls/cert.pem");
    let (certs, _) = igloo::tls::load(&cert, &cert.with_file_name("key.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs[0].clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(srv.addr.ip().into());
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        srv.addr
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

#[tokio::test]
async fn hsts_is_sent_under_tls() {
    let srv = TestServer::start(&["--tls", "self-signed"]);
    for path in ["/", "/api/status"] {
        let res = https_get(&srv, path).await;
        assert!(res.starts_with("http/1.1 200"), "{res}");
        assert!(
            res.contains("strict-transport-security: max-age=31536000; includesubdomains"),
            "{path}: {res}"
        );
    }
}
