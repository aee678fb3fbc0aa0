//! The foundation's HTTP surface, driven over real sockets.

mod common;

use common::{TestServer, client, get_json};
use serde_json::Value;

#[tokio::test]
async fn status_has_igloo_server_shape_and_true_values() {
    let srv = TestServer::start(&[]);
    let res = client().get(srv.url("/api/status")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-request-id").is_some());
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["serverRunning"], true);
    assert_eq!(s["nodeActive"], false, "no node runs yet");
    assert_eq!(s["hasCredentials"], false);
    assert_eq!(s["relays"], serde_json::json!(["wss://relay.primal.net"]));
    assert_eq!(s["relayCount"], 1);
    assert_eq!(s["restartInfo"]["blockedByCredentials"], true);
    assert_eq!(s["health"]["isHealthy"], false);
    assert_eq!(s["mode"], "database");
    assert_eq!(s["tls"], false);
    let ts = s["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == 24,
        "ISO timestamp, got {ts}"
    );
}

#[tokio::test]
async fn status_reports_configured_relays_and_headless_credentials() {
    let srv = TestServer::start(&[
        "--headless",
        "true",
        "--relays",
        "ws://127.0.0.1:7777, wss://relay.example.com",
        "--group-cred",
        "bfgroup1x",
        "--share-cred",
        "bfshare1x",
    ]);
    let s = get_json(&srv.url("/api/status")).await;
    assert_eq!(
        s["relays"],
        serde_json::json!(["ws://127.0.0.1:7777", "wss://relay.example.com"]),
        "loopback relays are kept"
    );
    assert_eq!(s["hasCredentials"], true);
    assert_eq!(s["mode"], "headless");
}

#[tokio::test]
async fn unknown_api_path_is_json_404_with_code() {
    let srv = TestServer::start(&[]);
    for path in ["/api/nope", "/api", "/api/status/extra"] {
        let res = client().get(srv.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(res.headers().get("x-request-id").is_some());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "NOT_FOUND", "{path}");
        assert!(body["error"].as_str().unwrap().contains("/api"), "{path}");
    }
}

#[tokio::test]
async fn wrong_method_is_json_405() {
    let srv = TestServer::start(&[]);
    let res = client().post(srv.url("/api/status")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    let res = client().delete(srv.url("/some/page")).send().await.unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn request_id_is_echoed_when_sane_and_replaced_otherwise() {
    let srv = TestServer::start(&[]);
    let res = client()
        .get(srv.url("/api/status"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = client()
        .get(srv.url("/api/status"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 36, "a fresh UUID");
    let a = client().get(srv.url("/nowhere.png")).send().await.unwrap();
    let b = client().get(srv.url("/nowhere.png")).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn ui_is_served_with_spa_fallback_and_dev_caching() {
    let srv = TestServer::start(&[]);
    let c = client();
    let index = c.get(srv.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = index.text().await.unwrap();
    assert!(html.contains("<title>igloo</title>"));

    let deep = c.get(srv.url("/signer/settings")).send().await.unwrap();
    assert_eq!(deep.status(), 200);
    assert_eq!(
        deep.text().await.unwrap(),
        html,
        "SPA fallback serves index.html"
    );

    // Every asset is referenced with a content version: immutable under it, revalidated
    // without it, gzipped when asked for.
    let version = html
        .split("/app.js?v=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("index.html references /app.js?v=…")
        .to_string();
    assert_eq!(version.len(), 12);
    assert!(html.contains(&format!("/styles.css?v={version}\"")));
    let js = c.get(srv.url("/app.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["cache-control"], "no-cache");
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let body = js.text().await.unwrap();
    assert!(
        body.contains(&format!("./js/api.js?v={version}\"")),
        "module imports carry the version"
    );
    let js = c
        .get(srv.url(&format!("/app.js?v={version}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let stale = c
        .get(srv.url("/app.js?v=000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.headers()["cache-control"], "no-cache");

    // (reqwest is built without gzip support: the body comes as sent.)
    let raw = c
        .get(srv.url(&format!("/app.js?v={version}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-encoding"], "gzip");
    assert_eq!(raw.headers()["vary"], "Accept-Encoding");
    let zipped = raw.bytes().await.unwrap();
    assert_eq!(&zipped[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(zipped.len() < body.len());

    let svg = c.get(srv.url("/assets/igloo.svg")).send().await.unwrap();
    assert_eq!(svg.status(), 200);
    assert!(
        svg.headers().get("content-security-policy").is_none(),
        "not a page"
    );

    // A missing file is a 404, not the app (igloo-server's QR worker defect).
    let missing = c
        .get(srv.url("/static/qr-scanner-worker.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let traversal = c
        .get(srv.url("/assets/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_ne!(traversal.status(), 200);
}

#[tokio::test]
async fn production_adds_security_headers_and_long_asset_caching() {
    let srv = TestServer::start(&["--node-env", "production"]);
    let c = client();
    let index = c.get(srv.url("/")).send().await.unwrap();
    let h = index.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self';"));
    // connect-src: the daemon's own origin only (the event stream on the same host).
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{};", srv.addr)),
        "{csp}"
    );
    assert!(!csp.contains("wss://relay.primal.net") && !csp.contains(" wss: "));
    let html = index.text().await.unwrap();
    let version = html
        .split("/assets/igloo.svg?v=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let svg = c
        .get(srv.url(&format!("/assets/igloo.svg?v={version}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        svg.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}

#[tokio::test]
async fn headless_mode_serves_no_ui() {
    let srv = TestServer::start(&["--headless", "true"]);
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "Frontend disabled in headless mode");
    let api = client().get(srv.url("/api/status")).send().await.unwrap();
    assert_eq!(api.status(), 200);
}

#[tokio::test]
async fn docs_are_served_offline_in_json_and_yaml() {
    let srv = TestServer::start(&[]);
    let c = client();
    let html = c.get(srv.url("/api/docs/")).send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.text().await.unwrap().contains("swagger"));
    let redirect = c.get(srv.url("/api/docs")).send().await.unwrap();
    assert!(redirect.status().is_redirection() || redirect.status() == 200);
    let bundle = c
        .get(srv.url("/api/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bundle.status(),
        200,
        "Swagger UI is vendored into the binary"
    );
    let json: Value = c
        .get(srv.url("/api/docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(json["openapi"].as_str().unwrap().starts_with("3."));
    assert!(json["paths"]["/api/status"]["get"].is_object());
    let yaml = c
        .get(srv.url("/api/docs/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(yaml.headers()["content-type"], "application/yaml");
    let text = yaml.text().await.unwrap();
    assert!(text.contains("/api/status:"));
}

#[test]
fn every_routed_api_path_is_in_the_openapi_spec() {
    let spec = igloo::http::docs::spec();
    let routes = igloo::http::api_routes();
    assert!(!routes.is_empty());
    for r in routes {
        let item = spec.paths.paths.get(r.path).unwrap_or_else(|| {
            panic!(
                "{} {} is routed but missing from the OpenAPI spec",
                r.method, r.path
            )
        });
        let json = serde_json::to_value(item).unwrap();
        let m = r.method.as_str().to_ascii_lowercase();
        assert!(
            json.get(&m).is_some(),
            "{} {} is routed but the spec lacks the method",
            r.method,
            r.path
        );
    }
}
