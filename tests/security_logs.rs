//! The logs of a full onboarding → login → API key → configure → sign flow (at trace level,
//! every crate) contain none of the secrets used: admin secret, password, session id, API key,
//! share credential, share secret key and nonce seeds.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestServer, call};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use reqwest::Method;
use serde_json::json;

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
async fn a_full_flow_logs_no_secret() {
    let buf = Buf::default();
    let writer = buf.clone();
    tracing_subscriber::fmt()
        // The test's own WebSocket client logs its request line; the server's logs are
        // what is checked here.
        .with_env_filter("trace,tungstenite::handshake::client=off")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let admin_secret = "admin-secret-Zq81xv";
    let password = "Gl4cier!Pw";
    let passphrase = "owner passphrase 77";
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let srv = TestServer::start_auth(&[
        "--admin-secret",
        admin_secret,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "10000",
    ]);
    let bearer = format!("Bearer {admin_secret}");
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/onboarding/validate-admin",
        Some(("authorization", &bearer)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/onboarding/setup",
        Some(("authorization", &bearer)),
        Some(json!({"username": "admin", "password": password})),
    )
    .await;
    assert_eq!(code, 200);
    // A failed login too: its password must not be logged either.
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": "Wr0ng!Guess"})),
    )
    .await;
    assert_eq!(code, 401);
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": password})),
    )
    .await;
    assert_eq!(code, 200);
    let sid = b["sessionId"].as_str().unwrap().to_string();
    let auth = Some(("x-session-id", sid.as_str()));
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/api-keys",
        auth,
        // It pings (read) and signs (sign): the admin scope covers both.
        Some(json!({"label": "t", "scope": "admin"})),
    )
    .await;
    assert_eq!(code, 201);
    let token = b["apiKey"]["token"].as_str().unwrap().to_string();
    let share = encode_share(&ks.shares[0]).to_string();
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/user/credentials",
        auth,
        Some(json!({"group_cred": encode_group(&ks.group), "share_cred": share, "relays": [relay_url]})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/admin/passphrase",
        auth,
        Some(json!({"passphrase": passphrase})),
    )
    .await;
    assert_eq!(code, 200);

    // The peer (share 2) and this node sign for each other.
    let peer = TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &encode_group(&ks.group),
        "--share-cred",
        &encode_share(&ks.shares[1]),
        "--relays",
        &relay_url,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        "10000",
    ]);
    let peer_x = hex::encode(x_only(&ks.shares[1].public_key()));
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (code, b, _) = call(
            &srv,
            Method::POST,
            "/api/peers/ping",
            Some(("x-api-key", &token)),
            Some(json!({"target": peer_x})),
        )
        .await;
        assert_eq!(code, 200, "{b}");
        if b["success"] == json!(true) {
            break;
        }
        assert!(Instant::now() < deadline, "peer never answered: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let msg: [u8; 32] = rand::random();
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/sign",
        Some(("x-api-key", &token)),
        Some(json!({"message": hex::encode(msg)})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let msg2: [u8; 32] = rand::random();
    let (code, b, _) = call(
        &peer,
        Method::POST,
        "/api/sign",
        None,
        Some(json!({"message": hex::encode(msg2)})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    // igloo-server's header-less event-stream credentials: in the URI and the subprotocol.
    for (query, proto) in [
        (format!("?apiKey={token}"), None),
        (format!("?sessionId={sid}"), None),
        (String::new(), Some(format!("session.{sid}"))),
        (String::new(), Some(format!("apikey.{token}"))),
    ] {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}/api/events{query}", srv.addr)
            .into_client_request()
            .unwrap();
        if let Some(p) = proto {
            req.headers_mut()
                .insert("sec-websocket-protocol", p.parse().unwrap());
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let _ = ws.close(None).await;
    }
    let (code, _, _) = call(&srv, Method::POST, "/api/auth/logout", auth, None).await;
    assert_eq!(code, 200);
    drop(peer);
    srv.stop().unwrap();

    let logs = String::from_utf8_lossy(&buf.0.lock().unwrap()).to_lowercase();
    assert!(
        logs.contains("login succeeded") && logs.contains("user credentials saved"),
        "the flow was logged"
    );
    let s = &ks.shares[0];
    let s2 = &ks.shares[1];
    let secrets = [
        ("admin secret", admin_secret.to_string()),
        ("password", password.to_string()),
        ("failed password", "Wr0ng!Guess".to_string()),
        ("passphrase", passphrase.to_string()),
        ("session id", sid.clone()),
        ("api key", token.clone()),
        ("share credential", share.clone()),
        ("share secret key", hex::encode(*s.seckey.to_bytes())),
        ("binder nonce seed", hex::encode(*s.binder_sn.to_bytes())),
        ("hidden nonce seed", hex::encode(*s.hidden_sn.to_bytes())),
        ("peer share credential", encode_share(s2).to_string()),
        ("peer secret key", hex::encode(*s2.seckey.to_bytes())),
    ];
    for (what, secret) in secrets {
        assert!(
            !logs.contains(&secret.to_lowercase()),
            "the logs contain the {what}"
        );
    }
}
