//! HTTPS with a self-signed certificate that is generated once and reused, verified by a
//! real rustls client that trusts exactly that certificate; and the HTTP → HTTPS redirect.

mod common;

use std::sync::Arc;

use common::{TestServer, client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn https_get(srv: &TestServer, cert_pem: &std::path::Path, path: &str) -> String {
    let (certs, _) = igloo::tls::load(cert_pem, &cert_pem.with_file_name("key.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs[0].clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    // The certificate must cover 127.0.0.1, or this handshake fails verification.
    let name = rustls::pki_types::ServerName::IpAddress(srv.addr.ip().into());
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("verified TLS handshake");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        srv.addr
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn fingerprint(cert_pem: &std::path::Path) -> String {
    let (certs, _) = igloo::tls::load(cert_pem, &cert_pem.with_file_name("key.pem")).unwrap();
    igloo::tls::fingerprint(&certs[0])
}

#[tokio::test]
async fn self_signed_certificate_is_generated_once_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cert = data.join("tls/cert.pem");

    let srv = TestServer::start_in(data.clone(), &["--tls", "self-signed"]);
    assert!(cert.exists(), "certificate written to the data directory");
    let key_mode = std::fs::metadata(data.join("tls/key.pem")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);
    let res = https_get(&srv, &cert, "/api/status").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(res.contains("\"tls\":true"));
    let first = fingerprint(&cert);
    srv.stop().unwrap();

    let srv = TestServer::start_in(data.clone(), &["--tls", "self-signed"]);
    assert_eq!(fingerprint(&cert), first, "the certificate is reused");
    let res = https_get(&srv, &cert, "/").await;
    assert!(res.starts_with("HTTP/1.1 200"));
    // Plain HTTP on the TLS port is refused.
    assert!(client().get(srv.url("/api/status")).send().await.is_err());
}

#[tokio::test]
async fn files_mode_uses_the_given_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mine");
    let (cert, key) = igloo::tls::ensure_self_signed(&dir, &["127.0.0.1".to_string()]).unwrap();
    let srv = TestServer::start(&[
        "--tls",
        "files",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let res = https_get(&srv, &cert, "/api/status").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(
        !srv.data_dir.join("tls/cert.pem").exists(),
        "no certificate generated"
    );
}

#[tokio::test]
async fn plain_http_port_redirects_to_https() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let srv = TestServer::start(&[
        "--tls",
        "self-signed",
        "--http-redirect-port",
        &port.to_string(),
    ]);
    let res = client()
        .get(format!("http://127.0.0.1:{port}/api/status?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"],
        format!("https://127.0.0.1:{}/api/status?x=1", srv.addr.port()).as_str()
    );
}
