//! `TestServer`: the whole daemon in-process on 127.0.0.1 port 0, on its own current-thread
//! runtime (as in production), with its data in a temporary directory. Shut down on drop.
#![allow(dead_code)]

pub mod daemon;
pub mod proxy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use clap::Parser;
use igloo::config::{Cli, Config};

pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with these extra command-line settings. Authentication is off unless
    /// `extra` sets `--auth-enabled` (see [`TestServer::start_auth`]).
    pub fn start(extra: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server with authentication on (plus these extra settings).
    pub fn start_auth(extra: &[&str]) -> TestServer {
        let mut v = vec!["--auth-enabled", "true"];
        v.extend_from_slice(extra);
        Self::start(&v)
    }

    /// Starts a server whose data directory is `data_dir` (kept after drop).
    pub fn start_in(data_dir: PathBuf, extra: &[&str]) -> TestServer {
        Self::start_full(data_dir, extra, igloo::systemd::Notifier::disabled())
    }

    /// Starts a server that reports to systemd through `notifier`.
    pub fn start_notifying(extra: &[&str], notifier: igloo::systemd::Notifier) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Self::start_full(tmp.path().join("data"), extra, notifier);
        s._tmp = Some(tmp);
        s
    }

    fn start_full(
        data_dir: PathBuf,
        extra: &[&str],
        notifier: igloo::systemd::Notifier,
    ) -> TestServer {
        let mut args: Vec<String> = vec![
            "igloo".into(),
            "--host-name".into(),
            "127.0.0.1".into(),
            "--db-path".into(),
            data_dir.display().to_string(),
        ];
        // Tests that are not about authentication run with it off; auth tests opt in.
        if !extra.iter().any(|a| a.starts_with("--auth-enabled")) {
            args.extend(["--auth-enabled".into(), "false".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let cli = Cli::try_parse_from(&args).expect("test arguments parse");
        let config = Config::from_settings(cli.settings).expect("test config valid");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let daemon =
                    match igloo::daemon::start_with_notifier(config, listener, notifier).await {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e.to_string()));
                            return Err(e.to_string());
                        }
                    };
                let _ = addr_tx.send(daemon.local_addr().map_err(|e| e.to_string()));
                daemon
                    .serve(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        let addr = addr_rx
            .recv()
            .expect("server thread reports")
            .expect("server starts");
        TestServer {
            addr,
            data_dir,
            stop: Some(stop_tx),
            thread: Some(thread),
            _tmp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server and returns how `run` ended.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| "server thread panicked".to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// A plain HTTP client for tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GET a URL and parse its JSON body (any status).
pub async fn get_json(url: &str) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}

/// Waits until the daemon at `status_url` (its `/api/status`) reports an open relay socket.
pub async fn wait_node_connected(status_url: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = get_json(status_url).await;
        if s["health"]["isConnected"] == serde_json::json!(true) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "igloo never connected: {s}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// One JSON API call: status, body as JSON (a string when it is not JSON) and the raw text.
/// `auth` is one header, e.g. `("x-session-id", sid)` or `("x-api-key", key)`.
pub async fn call(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value, String) {
    let (code, v, text, _) = request(srv, method, path, auth, body).await;
    (code, v, text)
}

/// [`call`], answering the response headers instead of the raw text.
pub async fn call_with_headers(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let (code, v, _, headers) = request(srv, method, path, auth, body).await;
    (code, v, headers)
}

async fn request(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value, String, reqwest::header::HeaderMap) {
    let mut r = client().request(method, srv.url(path));
    if let Some((k, v)) = auth {
        r = r.header(k, v);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("request");
    let code = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()));
    (code, v, text, headers)
}

/// Logs `user` in and returns the session id.
pub async fn login_as(srv: &TestServer, user: &str, password: &str) -> String {
    let body = serde_json::json!({"username": user, "password": password});
    let (code, b, _) = call(
        srv,
        reqwest::Method::POST,
        "/api/auth/login",
        None,
        Some(body),
    )
    .await;
    assert_eq!(code, 200, "login: {b}");
    b["sessionId"].as_str().expect("sessionId").to_string()
}

/// First-run onboarding with `admin_secret` (user `admin`), then a login: the session id.
pub async fn onboard_admin(srv: &TestServer, admin_secret: &str, password: &str) -> String {
    let bearer = format!("Bearer {admin_secret}");
    let body = serde_json::json!({"username": "admin", "password": password});
    let (code, b, _) = call(
        srv,
        reqwest::Method::POST,
        "/api/onboarding/setup",
        Some(("authorization", &bearer)),
        Some(body),
    )
    .await;
    assert_eq!(code, 200, "onboarding: {b}");
    login_as(srv, "admin", password).await
}

/// Opens a WebSocket to `path` with these extra headers; `Ok(())` on 101, else the status.
pub async fn ws_upgrade(srv: &TestServer, path: &str, headers: &[(&str, &str)]) -> Result<(), u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::{Error as WsError, http::HeaderName, http::HeaderValue};
    let mut req = format!("ws://{}{}", srv.addr, path)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, _)) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        Err(WsError::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}
