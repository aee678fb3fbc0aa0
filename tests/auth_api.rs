//! The account surface over real sockets: onboarding, login/logout, sessions, users, API keys,
//! user credentials, password change, headless keys and basic auth, and the env routes.

mod common;

// `call` with the response headers: several tests check them.
use common::{TestServer, call_with_headers as call, client, login_as, onboard_admin};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const ADMIN_PASS: &str = "Gl4cier!Pw";

/// Rate limits are off here: these tests walk through every error of an endpoint, and the
/// limits have their own tests (tests/guard_*.rs).
fn db_server() -> TestServer {
    TestServer::start_auth(&[
        "--admin-secret",
        ADMIN_SECRET,
        "--rate-limit-enabled",
        "false",
    ])
}

async fn add_user(srv: &TestServer, admin: &str, name: &str, pass: &str) -> u64 {
    let (code, body, _) = call(
        srv,
        Method::POST,
        "/api/admin/users",
        Some(("x-session-id", admin)),
        Some(json!({"username": name, "password": pass})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body["user"]["id"].as_u64().expect("id")
}

#[tokio::test]
async fn onboarding_creates_the_first_admin_once() {
    let srv = db_server();
    let (code, s, h) = call(&srv, Method::GET, "/api/onboarding/status", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(
        s,
        json!({"initialized": false, "hasAdminSecret": true, "headlessMode": false, "skipAdminValidation": false, "setupCode": false})
    );
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    // Before onboarding, protected routes explain what to do.
    let (code, body, _) = call(&srv, Method::GET, "/api/env", None, None).await;
    assert_eq!(code, 401);
    assert!(
        body["error"].as_str().unwrap().contains("onboarding"),
        "{body}"
    );

    let good = format!("Bearer {ADMIN_SECRET}");
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/onboarding/validate-admin",
        Some(("authorization", "Bearer wrong")),
        None,
    )
    .await;
    assert_eq!(code, 401);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/onboarding/validate-admin",
        Some(("authorization", &good)),
        None,
    )
    .await;
    assert_eq!(code, 200);

    let setup = |auth: Option<&str>, body: Value| {
        let srv = &srv;
        let auth = auth.map(String::from);
        async move {
            let a = auth.as_deref().map(|v| ("authorization", v));
            call(srv, Method::POST, "/api/onboarding/setup", a, Some(body)).await
        }
    };
    let ok_body = json!({"username": "admin", "password": ADMIN_PASS});
    assert_eq!(setup(None, ok_body.clone()).await.0, 401, "secret required");
    let (code, b, _) = setup(
        Some(&good),
        json!({"username": "ad", "password": ADMIN_PASS}),
    )
    .await;
    assert_eq!((code, b["error"].as_str()), (400, Some("invalid_username")));
    let (code, b, _) = setup(
        Some(&good),
        json!({"username": "admin", "password": "weak"}),
    )
    .await;
    assert_eq!((code, b["error"].as_str()), (400, Some("invalid_password")));
    let (code, b, _) = setup(Some(&good), json!({"username": 5, "password": ADMIN_PASS})).await;
    assert_eq!((code, b["error"].as_str()), (400, Some("invalid_input")));
    let res = client()
        .post(srv.url("/api/onboarding/setup"))
        .header("authorization", &good)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (code, b, _) = setup(Some(&good), ok_body.clone()).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["message"], "Setup complete");
    // Only once.
    assert_eq!(setup(Some(&good), ok_body).await.0, 401);
    let (_, s, _) = call(&srv, Method::GET, "/api/onboarding/status", None, None).await;
    assert_eq!(s["initialized"], true);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/onboarding/validate-admin",
        Some(("authorization", &good)),
        None,
    )
    .await;
    assert_eq!(code, 401, "no validation after onboarding");
}

#[tokio::test]
async fn skip_admin_secret_validation_allows_setup_without_the_secret() {
    let srv = TestServer::start_auth(&[
        "--admin-secret",
        ADMIN_SECRET,
        "--skip-admin-secret-validation",
        "true",
    ]);
    let (_, s, _) = call(&srv, Method::GET, "/api/onboarding/status", None, None).await;
    assert_eq!(s["skipAdminValidation"], true);
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/onboarding/setup",
        None,
        Some(json!({"username": "umbrel", "password": ADMIN_PASS})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
}

#[tokio::test]
async fn login_sessions_cookie_and_logout() {
    let srv = db_server();
    onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": "Wrong!Pw9x"})),
    )
    .await;
    assert_eq!(
        (code, b["error"].as_str()),
        (401, Some("Invalid credentials"))
    );
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "nobody", "password": "Wrong!Pw9x"})),
    )
    .await;
    assert_eq!(code, 401);
    let (code, _, _) = call(&srv, Method::POST, "/api/auth/login", None, Some(json!({}))).await;
    assert_eq!(code, 400);

    let (code, b, h) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": ADMIN_PASS})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["expiresIn"], 3_600_000);
    assert!(b["userId"].is_u64());
    let sid = b["sessionId"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 64);
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(&format!("session={sid};")), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");

    // Header and cookie both work.
    let (code, p, h) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["username"], "admin");
    assert_eq!(p["role"], "admin");
    assert_eq!(p["hasCredentials"], false);
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    let cookie_hdr = format!("session={sid}");
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("cookie", &cookie_hdr)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, b, _) = call(&srv, Method::GET, "/api/user/profile", None, None).await;
    assert_eq!(code, 401);
    assert_eq!(b["authMethods"]["enabled"], true);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", "0".repeat(64).as_str())),
        None,
    )
    .await;
    assert_eq!(code, 401, "unknown session");

    let (code, s, _) = call(&srv, Method::GET, "/api/auth/status", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(s["enabled"], true);
    assert_eq!(s["sessionTimeout"], 3600);
    assert!(s["methods"].as_array().unwrap().contains(&json!("session")));

    let (code, _, h) = call(
        &srv,
        Method::POST,
        "/api/auth/logout",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(h["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 401, "logged-out session");
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expire_when_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = ["--auth-enabled", "true", "--admin-secret", ADMIN_SECRET];
    let srv = TestServer::start_in(dir.clone(), &args);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let sid2 = login_as(&srv, "admin", ADMIN_PASS).await;
    srv.stop().unwrap();

    let srv = TestServer::start_in(dir.clone(), &args);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 200, "session survives a restart");
    srv.stop().unwrap();

    // Age the second session past the idle timeout, as if two hours had passed.
    {
        let store = igloo::store::Store::open(&dir).unwrap();
        let hash = igloo::auth::tokens::sha256_hex(&sid2);
        let mut rec = store.get_session(&hash).unwrap().expect("stored session");
        assert!(
            !format!("{rec:?}").contains(&sid2),
            "the id itself is not stored"
        );
        rec.last_access -= 2 * 3600 * 1000;
        store.put_session(&hash, &rec).unwrap();
        store.close().unwrap();
    }
    let srv = TestServer::start_in(dir, &args);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &sid2)),
        None,
    )
    .await;
    assert_eq!(code, 401, "expired session");
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 200, "the other session is still valid");
}

#[tokio::test]
async fn admin_manages_users_and_the_last_admin_stays() {
    let srv = db_server();
    let admin = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (code, w, _) = call(
        &srv,
        Method::GET,
        "/api/admin/whoami",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!((code, &w["admin"]), (200, &json!(true)));
    let (code, s, _) = call(
        &srv,
        Method::GET,
        "/api/admin/status",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        (s["userCount"].as_u64(), s["mode"].as_str()),
        (Some(1), Some("database"))
    );
    // Once an admin exists, the admin secret is no credential anywhere (onboarding only).
    let bearer = format!("Bearer {ADMIN_SECRET}");
    for (h, v) in [
        ("authorization", bearer.as_str()),
        ("x-admin-secret", ADMIN_SECRET),
    ] {
        let (code, w, _) = call(&srv, Method::GET, "/api/admin/whoami", Some((h, v)), None).await;
        assert_eq!(code, 401, "{h}: {w}");
    }

    let bob = add_user(&srv, &admin, "bob", "Kx9!Secret").await;
    // The explicit admin-secret reveal: admin users only, confirmed.
    let reveal = |sid: &str, body: Value| {
        let (srv, sid) = (&srv, sid.to_string());
        async move {
            call(
                srv,
                Method::POST,
                "/api/env/admin-secret",
                Some(("x-session-id", &sid)),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(reveal(&admin, json!({})).await.0, 400);
    let (code, r, _) = reveal(&admin, json!({"confirm": true})).await;
    assert_eq!((code, r["adminSecret"].as_str()), (200, Some(ADMIN_SECRET)));
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users",
        Some(("x-session-id", &admin)),
        Some(json!({"username": "bob", "password": "Kx9!Secret"})),
    )
    .await;
    assert_eq!(code, 409, "name taken");
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users",
        Some(("x-session-id", &admin)),
        Some(json!({"username": "carol", "password": "C4rol!Pw", "role": "root"})),
    )
    .await;
    assert_eq!(code, 400, "{b}");
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users",
        Some(("x-session-id", &admin)),
        Some(json!({"username": "carol", "password": "short"})),
    )
    .await;
    assert_eq!((code, b["code"].as_str()), (400, Some("invalid_password")));

    let (code, list, _) = call(
        &srv,
        Method::GET,
        "/api/admin/users",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "bob"]);
    assert!(
        !list.to_string().contains("argon2"),
        "no hashes in the list"
    );

    // A plain user is not an admin.
    let bob_sid = login_as(&srv, "bob", "Kx9!Secret").await;
    assert_eq!(reveal(&bob_sid, json!({"confirm": true})).await.0, 403);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/admin/users",
        Some(("x-session-id", &bob_sid)),
        None,
    )
    .await;
    assert_eq!(code, 403);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/env",
        Some(("x-session-id", &bob_sid)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 403);

    let admin_id = list["users"][0]["id"].as_u64().unwrap();
    let del = |id: Value| {
        let (srv, admin) = (&srv, admin.clone());
        async move {
            call(
                srv,
                Method::POST,
                "/api/admin/users/delete",
                Some(("x-session-id", &admin)),
                Some(json!({"userId": id})),
            )
            .await
        }
    };
    let (code, b, _) = del(json!(admin_id)).await;
    assert_eq!(code, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("last admin"));
    assert_eq!(del(json!("x")).await.0, 400);
    assert_eq!(del(json!(999)).await.0, 404);
    assert_eq!(del(json!(bob)).await.0, 200);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &bob_sid)),
        None,
    )
    .await;
    assert_eq!(code, 401, "a deleted user's session ends");
}

#[tokio::test]
async fn api_keys_are_shown_once_used_and_revoked() {
    let srv = db_server();
    let admin = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/api-keys",
        Some(("x-session-id", &admin)),
        Some(json!({"label": "ci"})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let token = b["apiKey"]["token"].as_str().unwrap().to_string();
    let id = b["apiKey"]["id"].as_u64().unwrap();
    assert_eq!(token.len(), 64);
    assert_eq!(b["apiKey"]["prefix"].as_str().unwrap(), &token[..12]);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/admin/api-keys",
        Some(("x-session-id", &admin)),
        Some(json!({"label": "x".repeat(129)})),
    )
    .await;
    assert_eq!(code, 400);

    assert_eq!(
        b["apiKey"]["scope"], "sign",
        "the narrowest scope by default"
    );
    // Both header forms authenticate (the body is refused, so the key was accepted); a
    // `sign` key is no admin and reads no configuration.
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/nip44/encrypt",
        Some(("x-api-key", &token)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 400);
    let bearer = format!("Bearer {token}");
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/nip44/encrypt",
        Some(("authorization", &bearer)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 400);
    for path in ["/api/admin/users", "/api/env"] {
        let (code, _, _) = call(&srv, Method::GET, path, Some(("x-api-key", &token)), None).await;
        assert_eq!(code, 401, "{path}");
    }
    let wrong = format!("{}{}", &token[..12], "0".repeat(52));
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/nip44/encrypt",
        Some(("x-api-key", &wrong)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 401, "right prefix, wrong key");
    // Login with the key gives a session tied to it.
    let (code, l, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"apiKey": token})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(l["userId"], format!("api-key:{}", &token[..12]));
    let key_sid = l["sessionId"].as_str().unwrap().to_string();

    let (code, list, _) = call(
        &srv,
        Method::GET,
        "/api/admin/api-keys",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let k = &list["apiKeys"][0];
    assert_eq!(k["label"], "ci");
    assert_eq!(k["lastUsedIp"], "127.0.0.1");
    assert!(k["lastUsedAt"].is_string());
    assert!(
        !list.to_string().contains(&token),
        "the token is never listed"
    );

    assert_eq!(k["scope"], "sign");
    // The key's session has the key's scope.
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/nip44/encrypt",
        Some(("x-session-id", &key_sid)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/env",
        Some(("x-session-id", &key_sid)),
        None,
    )
    .await;
    assert_eq!(code, 401);

    let revoke = |body: Value| {
        let (srv, admin) = (&srv, admin.clone());
        async move {
            call(
                srv,
                Method::POST,
                "/api/admin/api-keys/revoke",
                Some(("x-session-id", &admin)),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(revoke(json!({"apiKeyId": "abc"})).await.0, 400);
    assert_eq!(revoke(json!({"apiKeyId": 999})).await.0, 404);
    assert_eq!(
        revoke(json!({"apiKeyId": id, "reason": "leaked"})).await.0,
        200
    );
    assert_eq!(revoke(json!({"apiKeyId": id})).await.0, 409);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/nip44/encrypt",
        Some(("x-api-key", &token)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 401, "revoked key");
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/nip44/encrypt",
        Some(("x-session-id", &key_sid)),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 401, "a revoked key's session ends");
    let (_, list, _) = call(
        &srv,
        Method::GET,
        "/api/admin/api-keys",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(list["apiKeys"][0]["revokedReason"], "leaked");
}

#[tokio::test]
async fn users_keep_their_own_credentials_and_the_node_follows() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let other = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let share = encode_share(&ks.shares[0]).to_string();
    let srv = db_server();
    let admin = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    add_user(&srv, &admin, "bob", "Kx9!Secret").await;
    let bob = login_as(&srv, "bob", "Kx9!Secret").await;

    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/credentials",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(code, 404);
    let post = |sid: &str, body: Value| {
        let (srv, sid) = (&srv, sid.to_string());
        async move {
            call(
                srv,
                Method::POST,
                "/api/user/credentials",
                Some(("x-session-id", &sid)),
                Some(body),
            )
            .await
        }
    };
    // A share of another group, bad types and bad relays are refused.
    let wrong_share = encode_share(&other.shares[0]).to_string();
    let (code, b, _) = post(
        &admin,
        json!({"group_cred": group, "share_cred": wrong_share}),
    )
    .await;
    assert_eq!(code, 400, "{b}");
    assert_eq!(post(&admin, json!({"group_cred": 5})).await.0, 400);
    assert_eq!(
        post(&admin, json!({"share_cred": "bfshare1nonsense"}))
            .await
            .0,
        200,
        "half a pair is stored"
    );
    assert_eq!(post(&admin, json!({"relays": ["https://x"]})).await.0, 400);

    let (code, b, _) = post(
        &admin,
        json!({"group_cred": group, "share_cred": share, "relays": ["ws://127.0.0.1:9"], "group_name": "home"}),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(
        b["nodeActive"], true,
        "saving a complete pair starts the node"
    );
    let (_, st, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(st["nodeActive"], true);

    let (code, c, _) = call(
        &srv,
        Method::GET,
        "/api/user/credentials",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(c["hasShareCredential"], true);
    assert_eq!(c["group_name"], "home");
    assert_eq!(c["relays"], json!(["ws://127.0.0.1:9"]));
    assert!(
        !c.to_string().contains(&share) && !c.to_string().contains(&group),
        "never returned"
    );

    // Bob sees none of it.
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/credentials",
        Some(("x-session-id", &bob)),
        None,
    )
    .await;
    assert_eq!(code, 404);
    let (_, p, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("x-session-id", &bob)),
        None,
    )
    .await;
    assert_eq!(p["hasCredentials"], false);
    let (_, r, _) = call(
        &srv,
        Method::GET,
        "/api/user/relays",
        Some(("x-session-id", &bob)),
        None,
    )
    .await;
    assert_eq!(r["relays"], json!(["wss://relay.primal.net"]));
    // The configuration is the admin's.
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/env",
        Some(("x-session-id", &bob)),
        None,
    )
    .await;
    assert_eq!(code, 403);
    // Bob deleting his (absent) credentials does not stop the admin's node.
    let (code, _, _) = call(
        &srv,
        Method::DELETE,
        "/api/user/credentials",
        Some(("x-session-id", &bob)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (_, st, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(st["nodeActive"], true);

    // Relays: set, read back, refuse bad ones.
    let (code, _, _) = call(
        &srv,
        Method::PUT,
        "/api/user/relays",
        Some(("x-session-id", &admin)),
        Some(json!({"relays": ["ws://127.0.0.1:10"]})),
    )
    .await;
    assert_eq!(code, 200);
    let (_, r, _) = call(
        &srv,
        Method::GET,
        "/api/user/relays",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(r["relays"], json!(["ws://127.0.0.1:10"]));
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/user/relays",
        Some(("x-session-id", &admin)),
        Some(json!({"relays": [1]})),
    )
    .await;
    assert_eq!(code, 400);

    // A plain user cannot take the node over from the admin.
    let bob_pair = json!({
        "group_cred": encode_group(&other.group),
        "share_cred": encode_share(&other.shares[1]).as_str(),
        "relays": ["ws://127.0.0.1:9"],
    });
    let (code, b, _) = post(&bob, bob_pair.clone()).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["nodeOwner"], false);

    let (code, _, _) = call(
        &srv,
        Method::DELETE,
        "/api/user/credentials",
        Some(("x-session-id", &admin)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (_, st, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(
        st["nodeActive"], false,
        "deleting the credentials stops the node"
    );
    // With the node free, the user's pair runs it.
    let (code, b, _) = post(&bob, bob_pair).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(
        (&b["nodeOwner"], &b["nodeActive"]),
        (&json!(true), &json!(true))
    );
    // API keys and basic users have no user routes.
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/user/profile",
        Some(("authorization", &format!("Bearer {ADMIN_SECRET}"))),
        None,
    )
    .await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn password_change_revokes_sessions() {
    let srv = db_server();
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let other = login_as(&srv, "admin", ADMIN_PASS).await;
    let change = |body: Value| {
        let (srv, sid) = (&srv, sid.clone());
        async move {
            call(
                srv,
                Method::POST,
                "/api/user/password",
                Some(("x-session-id", &sid)),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(
        change(json!({"currentPassword": "Wrong!Pw9x", "newPassword": "N3w!Passw"}))
            .await
            .0,
        401
    );
    assert_eq!(
        change(json!({"currentPassword": ADMIN_PASS, "newPassword": "weak"}))
            .await
            .0,
        400
    );
    assert_eq!(change(json!({"currentPassword": ADMIN_PASS})).await.0, 400);
    let (code, b, _) =
        change(json!({"currentPassword": ADMIN_PASS, "newPassword": "N3w!Passw"})).await;
    assert_eq!(code, 200, "{b}");
    for s in [&sid, &other] {
        let (code, _, _) = call(
            &srv,
            Method::GET,
            "/api/user/profile",
            Some(("x-session-id", s)),
            None,
        )
        .await;
        assert_eq!(code, 401, "sessions end on a password change");
    }
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": ADMIN_PASS})),
    )
    .await;
    assert_eq!(code, 401);
    login_as(&srv, "admin", "N3w!Passw").await;
}

#[tokio::test]
async fn headless_mode_keys_basic_auth_and_env_routes() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let share = encode_share(&ks.shares[0]).to_string();
    let srv = TestServer::start_auth(&[
        "--headless",
        "true",
        "--api-key",
        "headless-key-123",
        "--basic-auth-user",
        "owner",
        "--basic-auth-pass",
        "pa55word",
        "--relays",
        "ws://127.0.0.1:9",
    ]);
    // No database-mode routes.
    for (m, p) in [
        (Method::GET, "/api/onboarding/status"),
        (Method::GET, "/api/user/profile"),
        (Method::GET, "/api/admin/users"),
    ] {
        let (code, b, _) = call(&srv, m, p, Some(("x-api-key", "headless-key-123")), None).await;
        assert_eq!(code, 404, "{p}");
        assert_eq!(b["code"], "NOT_FOUND");
    }
    let (code, _, _) = call(&srv, Method::GET, "/api/env", None, None).await;
    assert_eq!(code, 401);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/env",
        Some(("x-api-key", "wrong")),
        None,
    )
    .await;
    assert_eq!(code, 401);
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/env",
        Some(("authorization", "Bearer headless-key-123")),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let (code, env, _) = call(
        &srv,
        Method::GET,
        "/api/env",
        Some(("authorization", &basic("owner", "pa55word"))),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(env["adminSecretAvailable"], false);
    // Wrong-length credentials are a plain 401 (igloo-server answered 400).
    let (code, _, _) = call(
        &srv,
        Method::GET,
        "/api/env",
        Some(("authorization", &basic("o", "p"))),
        None,
    )
    .await;
    assert_eq!(code, 401);
    let (code, l, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "owner", "password": "pa55word"})),
    )
    .await;
    assert_eq!((code, &l["userId"]), (200, &json!("owner")));

    let key = Some(("x-api-key", "headless-key-123"));
    let (_, shares, _) = call(&srv, Method::GET, "/api/env/shares", key, None).await;
    assert_eq!(shares, json!([]));
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/env/shares",
        key,
        Some(json!({"shareCredential": share})),
    )
    .await;
    assert_eq!(code, 400);
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/env",
        key,
        Some(json!({"RELAYS": ["nope"]})),
    )
    .await;
    assert_eq!(code, 400, "{b}");
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/env",
        key,
        Some(json!({"GROUP_CRED": group, "SHARE_CRED": share, "GROUP_NAME": "home", "ADMIN_SECRET": "x", "FROSTR_SIGN_TIMEOUT": 15000})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["rejectedKeys"], json!(["ADMIN_SECRET"]));
    assert_eq!(b["nodeActive"], true);
    let (_, env, _) = call(&srv, Method::GET, "/api/env", key, None).await;
    assert_eq!(env["GROUP_NAME"], "home");
    assert_eq!(env["FROSTR_SIGN_TIMEOUT"], "15000");
    assert!(env.get("SHARE_CRED").is_none() && !env.to_string().contains(&share));
    let (_, shares, _) = call(&srv, Method::GET, "/api/env/shares", key, None).await;
    assert_eq!(shares[0]["isValid"], true);
    assert_eq!(shares[0]["id"], "env-stored-share");
    assert!(!shares.to_string().contains(&share));

    let (code, d, _) = call(
        &srv,
        Method::POST,
        "/api/env/delete",
        key,
        Some(json!({"keys": ["SHARE_CRED", "SESSION_SECRET", "FROSTR_SIGN_TIMEOUT"]})),
    )
    .await;
    assert_eq!(code, 200, "{d}");
    assert_eq!(d["rejectedKeys"], json!(["SESSION_SECRET"]));
    let (_, st, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(st["nodeActive"], false, "removing the share stops the node");
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/env/delete",
        key,
        Some(json!({"keys": "x"})),
    )
    .await;
    assert_eq!(code, 400);

    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/env/shares",
        key,
        Some(json!({"shareCredential": share, "groupCredential": group})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["message"], "Share saved successfully");
    let (_, st, _) = call(&srv, Method::GET, "/api/status", None, None).await;
    assert_eq!(st["nodeActive"], true);
}

#[test]
fn auth_disabled_is_refused_on_a_lan_bind_unless_insecure_ok() {
    use clap::Parser;
    let parse = |extra: &[&str]| {
        let mut v = vec!["igloo", "--host-name", "0.0.0.0", "--auth-enabled", "false"];
        v.extend_from_slice(extra);
        igloo::config::Config::from_settings(
            igloo::config::Cli::try_parse_from(v).unwrap().settings,
        )
    };
    let err = parse(&[]).unwrap_err();
    assert_eq!(err.var, "AUTH_ENABLED");
    assert!(parse(&["--insecure-ok", "true"]).is_ok());
}

#[tokio::test]
async fn docs_are_public_except_in_production() {
    let srv = db_server();
    let (code, _, _) = call(&srv, Method::GET, "/api/docs/openapi.json", None, None).await;
    assert_eq!(code, 200);
    let prod =
        TestServer::start_auth(&["--admin-secret", ADMIN_SECRET, "--node-env", "production"]);
    let sid = onboard_admin(&prod, ADMIN_SECRET, ADMIN_PASS).await;
    let (code, _, _) = call(&prod, Method::GET, "/api/docs/openapi.json", None, None).await;
    assert_eq!(code, 401);
    let res = client().get(prod.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 401, "Swagger UI too");
    let (code, _, _) = call(
        &prod,
        Method::GET,
        "/api/docs/openapi.json",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    // Status stays public everywhere.
    let (code, s, _) = call(&prod, Method::GET, "/api/status", None, None).await;
    assert_eq!((code, &s["locked"]), (200, &json!(false)));
}
