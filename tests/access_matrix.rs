//! The access matrix (ARCHITECTURE.md, "Access"), route by route: every entry of
//! `api_routes()` has its documented class, and a running daemon lets each kind of caller
//! through or refuses it (401/403) exactly as the matrix says.

mod common;

use common::{TestServer, call, login_as, onboard_admin};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const ADMIN_PASS: &str = "Gl4cier!Pw";
const USER_PASS: &str = "Kx9!Secret";

/// The documented matrix: method, path, class. Keep in step with ARCHITECTURE.md.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/api/status", "public"),
    ("POST", "/api/auth/login", "public"),
    ("POST", "/api/auth/logout", "public"),
    ("GET", "/api/auth/status", "public"),
    ("POST", "/api/unlock", "public"),
    ("GET", "/api/onboarding/status", "public"),
    ("POST", "/api/onboarding/validate-admin", "public"),
    ("POST", "/api/onboarding/setup", "public"),
    ("GET", "/api/docs/openapi.json", "public"),
    ("GET", "/api/docs/openapi.yaml", "public"),
    ("POST", "/api/sign", "sign"),
    ("POST", "/api/nip44/encrypt", "sign"),
    ("POST", "/api/nip44/decrypt", "sign"),
    ("POST", "/api/nip04/encrypt", "sign"),
    ("POST", "/api/nip04/decrypt", "sign"),
    ("GET", "/api/peers", "read"),
    ("POST", "/api/peers/ping", "read"),
    ("GET", "/api/peers/self", "read"),
    ("GET", "/api/peers/group", "read"),
    ("GET", "/api/events", "read"),
    ("POST", "/api/recover", "user"),
    ("POST", "/api/recover/validate", "user"),
    ("POST", "/api/qr", "user"),
    ("GET", "/api/user/profile", "db-user"),
    ("GET", "/api/user/credentials", "db-user"),
    ("POST", "/api/user/credentials", "db-user"),
    ("PUT", "/api/user/credentials", "db-user"),
    ("DELETE", "/api/user/credentials", "db-user"),
    ("GET", "/api/user/relays", "db-user"),
    ("POST", "/api/user/relays", "db-user"),
    ("PUT", "/api/user/relays", "db-user"),
    ("POST", "/api/user/password", "db-user"),
    ("GET", "/api/peers/policies", "admin"),
    ("GET", "/api/peers/{pubkey}/policy", "admin"),
    ("PUT", "/api/peers/{pubkey}/policy", "admin"),
    ("DELETE", "/api/peers/{pubkey}/policy", "admin"),
    ("GET", "/api/sign/pending", "admin"),
    ("POST", "/api/sign/pending/{id}/approve", "admin"),
    ("POST", "/api/sign/pending/{id}/deny", "admin"),
    ("GET", "/api/keyset", "admin"),
    ("DELETE", "/api/keyset", "admin"),
    ("POST", "/api/keyset/migrate", "admin"),
    ("POST", "/api/keyset/import", "admin"),
    ("GET", "/api/env", "admin"),
    ("POST", "/api/env", "admin"),
    ("POST", "/api/env/delete", "admin"),
    ("POST", "/api/env/admin-secret", "admin"),
    ("GET", "/api/env/shares", "admin"),
    ("POST", "/api/env/shares", "admin"),
    ("GET", "/api/admin/whoami", "admin"),
    ("GET", "/api/admin/status", "admin"),
    ("GET", "/api/admin/users", "admin"),
    ("POST", "/api/admin/users", "admin"),
    ("POST", "/api/admin/users/delete", "admin"),
    ("GET", "/api/admin/api-keys", "admin"),
    ("POST", "/api/admin/api-keys", "admin"),
    ("POST", "/api/admin/api-keys/revoke", "admin"),
    ("POST", "/api/admin/passphrase", "admin"),
    ("GET", "/api/nip46/sessions", "admin"),
    ("POST", "/api/nip46/sessions", "admin"),
    ("DELETE", "/api/nip46/sessions/{pubkey}", "admin"),
    ("PUT", "/api/nip46/sessions/{pubkey}/policy", "admin"),
    ("PUT", "/api/nip46/sessions/{pubkey}/status", "admin"),
    ("GET", "/api/nip46/history", "admin"),
    ("GET", "/api/nip46/requests", "admin"),
    ("POST", "/api/nip46/requests", "admin"),
    ("GET", "/api/nip46/relays", "admin"),
    ("PUT", "/api/nip46/relays", "admin"),
    ("GET", "/api/nip46/transport", "admin"),
    ("POST", "/api/nip46/connect", "admin"),
    ("POST", "/api/nip46/bunker", "admin"),
];

/// Callers, in the order of the matrix's columns.
const CALLERS: [&str; 7] = [
    "nobody",
    "user",
    "admin",
    "key:sign",
    "key:read",
    "key:admin",
    "admin-secret",
];

/// What the matrix promises: `None` allowed, `Some(401|403)` refused.
fn expected(class: &str, caller: &str) -> Option<u16> {
    let allowed: &[&str] = match class {
        "public" => &CALLERS,
        "sign" => &["user", "admin", "key:sign", "key:admin"],
        "read" => &["user", "admin", "key:read", "key:admin"],
        "user" => &["user", "admin", "key:admin"],
        "db-user" => &["user", "admin"],
        "admin" => &["admin", "key:admin"],
        other => panic!("unknown class {other}"),
    };
    if allowed.contains(&caller) {
        None
    } else if caller == "user" {
        Some(403)
    } else {
        Some(401)
    }
}

fn class_of(method: &str, path: &str) -> &'static str {
    MATRIX
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, c)| *c)
        .unwrap_or_else(|| panic!("{method} {path} is missing from the access matrix"))
}

#[test]
fn every_route_has_its_documented_class() {
    let routes = igloo::http::api_routes();
    for r in &routes {
        assert_eq!(
            r.access.name(),
            class_of(r.method.as_str(), r.path),
            "{} {}",
            r.method,
            r.path
        );
    }
    assert_eq!(
        routes.len(),
        MATRIX.len(),
        "the matrix lists a route that does not exist"
    );
}

/// A concrete URL for a route pattern.
fn concrete(path: &str) -> String {
    path.replace(
        "{pubkey}",
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    )
    .replace("{id}", "1")
}

/// Did the access layer refuse this call? Its 401s carry `authMethods`; its 403 is
/// `FORBIDDEN` "Admin authentication required". (A handler's own 401/403, such as a wrong
/// onboarding secret, is not a refusal by the matrix.)
fn refused(status: u16, body: &Value) -> Option<u16> {
    match status {
        401 if body.get("authMethods").is_some() => Some(401),
        403 if body["code"] == "FORBIDDEN" && body["error"] == "Admin authentication required" => {
            Some(403)
        }
        _ => None,
    }
}

async fn create_key(srv: &TestServer, admin: &str, scope: &str) -> String {
    let (code, b, _) = call(
        srv,
        Method::POST,
        "/api/admin/api-keys",
        Some(("x-session-id", admin)),
        Some(json!({"label": scope, "scope": scope})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(b["apiKey"]["scope"], scope);
    b["apiKey"]["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn database_mode_enforces_the_matrix_for_every_caller() {
    let srv = TestServer::start_auth(&[
        "--admin-secret",
        ADMIN_SECRET,
        "--rate-limit-enabled",
        "false",
        "--relay-enabled",
        "false",
    ]);
    let admin = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users",
        Some(("x-session-id", &admin)),
        Some(json!({"username": "bob", "password": USER_PASS})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let user = login_as(&srv, "bob", USER_PASS).await;
    let sign = create_key(&srv, &admin, "sign").await;
    let read = create_key(&srv, &admin, "read").await;
    let key_admin = create_key(&srv, &admin, "admin").await;
    let bearer_secret = format!("Bearer {ADMIN_SECRET}");
    let auth_of = |caller: &str| -> Option<(&str, String)> {
        match caller {
            "nobody" => None,
            "user" => Some(("x-session-id", user.clone())),
            "admin" => Some(("x-session-id", admin.clone())),
            "key:sign" => Some(("x-api-key", sign.clone())),
            "key:read" => Some(("x-api-key", read.clone())),
            "key:admin" => Some(("x-api-key", key_admin.clone())),
            "admin-secret" => Some(("authorization", bearer_secret.clone())),
            other => panic!("{other}"),
        }
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for r in igloo::http::api_routes() {
        if !r.modes.includes(false) {
            continue;
        }
        let class = class_of(r.method.as_str(), r.path);
        // Public routes (login, logout, onboarding) are called without credentials only:
        // with them they would end the sessions this test uses.
        let callers: &[&str] = if class == "public" {
            &["nobody"]
        } else {
            &CALLERS
        };
        for caller in callers {
            let method = Method::from_bytes(r.method.as_str().as_bytes()).unwrap();
            let auth = auth_of(caller);
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let (status, b, _) = call(
                &srv,
                method,
                &concrete(r.path),
                auth.as_ref().map(|(h, v)| (*h, v.as_str())),
                body,
            )
            .await;
            checked += 1;
            let got = refused(status, &b);
            let want = expected(class, caller);
            if got != want {
                failures.push(format!(
                    "{} {} as {caller}: expected {want:?}, got {status} {b}",
                    r.method, r.path
                ));
            }
        }
    }
    assert!(checked > 250, "only {checked} calls");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn headless_api_key_is_the_owner() {
    let srv = TestServer::start_auth(&[
        "--headless",
        "true",
        "--api-key",
        "headless-key-0123456789",
        "--rate-limit-enabled",
        "false",
        "--relay-enabled",
        "false",
    ]);
    let mut failures = Vec::new();
    for r in igloo::http::api_routes() {
        if !r.modes.includes(true) {
            continue;
        }
        let class = class_of(r.method.as_str(), r.path);
        let method = Method::from_bytes(r.method.as_str().as_bytes()).unwrap();
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let path = concrete(r.path);
        if class != "public" {
            let (status, b, _) = call(&srv, method.clone(), &path, None, body.clone()).await;
            if refused(status, &b) != Some(401) {
                failures.push(format!("{} {} as nobody: {status} {b}", r.method, r.path));
            }
        }
        if r.path == "/api/auth/logout" {
            continue;
        }
        let key = Some(("x-api-key", "headless-key-0123456789"));
        let (status, b, _) = call(&srv, method, &path, key, body).await;
        if refused(status, &b).is_some() {
            failures.push(format!("{} {} as API_KEY: {status} {b}", r.method, r.path));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
