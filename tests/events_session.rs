//! `/api/events` and its credential: igloo-server's header-less handshake forms
//! (`Sec-WebSocket-Protocol` tokens, `?apiKey=`/`?sessionId=`), and the server closing the
//! stream once what authenticated it ends (logout, expiry, password change, deleted user,
//! revoked API key).

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, call, login_as, onboard_admin};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const ADMIN_PASS: &str = "Gl4cier!Pw";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn server(extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--admin-secret",
        ADMIN_SECRET,
        "--rate-limit-enabled",
        "false",
    ];
    args.extend_from_slice(extra);
    TestServer::start_auth(&args)
}

/// Opens `/api/events{query}` with these headers: the socket and the selected subprotocol,
/// or the HTTP status of the refusal. The greeting is read before returning.
async fn open(
    srv: &TestServer,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, Option<String>), u16> {
    let mut req = format!("ws://{}/api/events{query}", srv.addr)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, res)) => {
            let proto = res
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string());
            let hello = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("greeting")
                .expect("a frame")
                .expect("a message");
            let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
            assert_eq!(hello["type"], "system");
            Ok((ws, proto))
        }
        Err(WsError::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

/// Waits up to `within` for the server to close the stream; returns the close code (None
/// when the socket just ended). Panics if the stream is still open then.
async fn closed_within(ws: &mut Ws, within: Duration) -> Option<u16> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("the stream is still open after {within:?}"),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// True if the stream is still open after `wait` (events may arrive meanwhile).
async fn still_open(ws: &mut Ws, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Text(_)))) | Ok(Some(Ok(Message::Ping(_)))) => continue,
            Ok(_) => return false,
        }
    }
}

async fn api_key(srv: &TestServer, admin: &str) -> (String, u64) {
    let (code, b, _) = call(
        srv,
        Method::POST,
        "/api/admin/api-keys",
        Some(("x-session-id", admin)),
        Some(json!({"label": "events"})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    (
        b["apiKey"]["token"].as_str().unwrap().to_string(),
        b["apiKey"]["id"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn browsers_authenticate_with_protocol_tokens_or_query_parameters() {
    let srv = server(&[]);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (key, _) = api_key(&srv, &sid).await;
    assert_eq!(open(&srv, "", &[]).await.err(), Some(401));
    for proto in [
        format!("session.{sid}"),
        format!("apikey.{key}"),
        format!("api-key.{key}"),
        format!("bearer.{key}"),
    ] {
        let (mut ws, selected) = open(&srv, "", &[("sec-websocket-protocol", &proto)])
            .await
            .unwrap_or_else(|c| panic!("{proto}: {c}"));
        assert_eq!(selected.as_deref(), Some(proto.as_str()), "echoed back");
        let _ = ws.close(None).await;
    }
    // The token may follow another offered protocol; the first offered one is echoed.
    let offer = format!("igloo, session.{sid}");
    let (_ws, selected) = open(&srv, "", &[("sec-websocket-protocol", &offer)])
        .await
        .unwrap();
    assert_eq!(selected.as_deref(), Some("igloo"));
    for query in [format!("?apiKey={key}"), format!("?sessionId={sid}")] {
        let (mut ws, selected) = open(&srv, &query, &[]).await.unwrap();
        assert_eq!(selected, None);
        let _ = ws.close(None).await;
    }
    let wrong = "0".repeat(64);
    assert_eq!(
        open(&srv, &format!("?apiKey={wrong}"), &[]).await.err(),
        Some(401)
    );
    let bad = format!("session.{wrong}");
    assert_eq!(
        open(&srv, "", &[("sec-websocket-protocol", &bad)])
            .await
            .err(),
        Some(401)
    );
    // The forms are for the event stream's handshake only, not a way into the API.
    let (code, _, _) = call(
        &srv,
        Method::GET,
        &format!("/api/peers?apiKey={key}"),
        None,
        None,
    )
    .await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn logout_ends_the_stream() {
    let srv = server(&[]);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let other = login_as(&srv, "admin", ADMIN_PASS).await;
    let cookie = format!("session={sid}");
    let (mut ws, _) = open(&srv, "", &[("cookie", &cookie)]).await.unwrap();
    let (mut kept, _) = open(&srv, &format!("?sessionId={other}"), &[])
        .await
        .unwrap();
    assert!(still_open(&mut ws, Duration::from_millis(1500)).await);
    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/auth/logout",
        Some(("x-session-id", &sid)),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        closed_within(&mut ws, Duration::from_secs(5)).await,
        Some(1008)
    );
    assert!(
        still_open(&mut kept, Duration::from_millis(1500)).await,
        "another session's stream goes on"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_users_streams() {
    let srv = server(&[]);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (mut ws, _) = open(&srv, "", &[("x-session-id", &sid)]).await.unwrap();
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/user/password",
        Some(("x-session-id", &sid)),
        Some(json!({"currentPassword": ADMIN_PASS, "newPassword": "N3w!Passw0rd"})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(
        closed_within(&mut ws, Duration::from_secs(5)).await,
        Some(1008)
    );
}

#[tokio::test]
async fn deleting_a_user_ends_their_stream() {
    let srv = server(&[]);
    let admin = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users",
        Some(("x-session-id", &admin)),
        Some(json!({"username": "bob", "password": "Kx9!Secret"})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let bob_id = b["user"]["id"].as_u64().unwrap();
    let bob = login_as(&srv, "bob", "Kx9!Secret").await;
    let proto = format!("session.{bob}");
    let (mut ws, _) = open(&srv, "", &[("sec-websocket-protocol", &proto)])
        .await
        .unwrap();
    let (mut admins, _) = open(&srv, "", &[("x-session-id", &admin)]).await.unwrap();
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users/delete",
        Some(("x-session-id", &admin)),
        Some(json!({"userId": bob_id})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(
        closed_within(&mut ws, Duration::from_secs(5)).await,
        Some(1008)
    );
    assert!(still_open(&mut admins, Duration::from_millis(1500)).await);
}

#[tokio::test]
async fn revoking_an_api_key_ends_its_streams() {
    let srv = server(&[]);
    let admin = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let (key, id) = api_key(&srv, &admin).await;
    let (mut by_header, _) = open(&srv, "", &[("x-api-key", &key)]).await.unwrap();
    let (mut by_query, _) = open(&srv, &format!("?apiKey={key}"), &[]).await.unwrap();
    let proto = format!("bearer.{key}");
    let (mut by_proto, _) = open(&srv, "", &[("sec-websocket-protocol", &proto)])
        .await
        .unwrap();
    assert!(still_open(&mut by_header, Duration::from_millis(1500)).await);
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/api-keys/revoke",
        Some(("x-session-id", &admin)),
        Some(json!({"apiKeyId": id})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    for ws in [&mut by_header, &mut by_query, &mut by_proto] {
        assert_eq!(closed_within(ws, Duration::from_secs(5)).await, Some(1008));
    }
}

#[tokio::test]
async fn an_expired_session_ends_its_stream() {
    // 60 s is the shortest SESSION_TIMEOUT; an open stream does not keep a session alive.
    let srv = server(&["--session-timeout", "60"]);
    let sid = onboard_admin(&srv, ADMIN_SECRET, ADMIN_PASS).await;
    let since = Instant::now();
    let (mut ws, _) = open(&srv, "", &[("x-session-id", &sid)]).await.unwrap();
    assert_eq!(
        closed_within(&mut ws, Duration::from_secs(75)).await,
        Some(1008)
    );
    assert!(
        since.elapsed() >= Duration::from_secs(55),
        "closed only at expiry ({:?})",
        since.elapsed()
    );
}
