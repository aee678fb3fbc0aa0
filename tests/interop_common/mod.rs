//! Helpers for the live interop tests (tests/interop_*.rs) and the sign benchmark: a
//! scriptable JS peer (tests/interop/js-peer.mjs), a relay on 127.0.0.1 that can be stopped
//! and restarted on the same port, and igloo daemons configured for a keyset.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::{GroupPackage, SharePackage};
use igloo::relay::{Relay, RelayConfig};
use k256::schnorr::{Signature, VerifyingKey};
use serde_json::{Value, json};

use crate::common::{TestServer, client};

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

/// `node <script>` in tests/interop, once `module` (an npm package the script needs) is
/// installed: the process and its stdin; each JSON line it prints goes to `on_line`, from a
/// reader thread, until that returns false.
pub fn spawn_node_script(
    script: &str,
    module: &str,
    mut on_line: impl FnMut(Value) -> bool + Send + 'static,
) -> (Child, ChildStdin) {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules").join(module).is_dir(),
        "the JavaScript libraries are not installed: run `npm ci --prefix tests/interop` first"
    );
    let mut child = Command::new("node")
        .arg("--experimental-websocket")
        .arg("--no-warnings")
        .arg(script)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}); install Node.js 20"));
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if !on_line(v) {
                    break;
                }
            }
        }
    });
    (child, stdin)
}

/// One `node js-peer.mjs` process; killed on drop.
pub struct JsPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Value>,
    next_id: u64,
}

impl JsPeer {
    pub fn spawn() -> JsPeer {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (child, stdin) = spawn_node_script("js-peer.mjs", "@frostr/bifrost", move |v| {
            tx.send(v).is_ok()
        });
        JsPeer {
            child,
            stdin: Some(stdin),
            rx,
            next_id: 0,
        }
    }

    /// Sends one command and waits (at most `wait`) for its answer.
    pub async fn call_within(&mut self, mut cmd: Value, wait: Duration) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write to the JS peer");
        stdin.flush().expect("flush");
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let v = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("the JS peer did not answer {cmd} in {wait:?}"))
                .expect("the JS peer exited");
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    pub async fn call(&mut self, cmd: Value) -> Value {
        self.call_within(cmd, Duration::from_secs(60)).await
    }

    /// A command that must succeed.
    pub async fn ok(&mut self, cmd: Value) -> Value {
        let what = cmd["cmd"].clone();
        let v = self.call(cmd).await;
        assert_eq!(v["ok"], json!(true), "JS {what} failed: {v}");
        v
    }

    pub async fn start(&mut self, group: &GroupPackage, share: &SharePackage, relay: &str) {
        self.ok(json!({
            "cmd": "start",
            "group": encode_group(group),
            "share": encode_share(share).as_str(),
            "relays": [relay],
        }))
        .await;
    }

    /// Retries `cmd` until it succeeds (peers subscribe asynchronously), at most `wait`.
    pub async fn retry_ok(&mut self, cmd: Value, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let v = self.call(cmd.clone()).await;
            if v["ok"] == json!(true) {
                return v;
            }
            assert!(Instant::now() < deadline, "JS {cmd} kept failing: {v}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// igloo's relay on its own 127.0.0.1 listener, restartable on the same port.
pub struct LoopRelay {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LoopRelay {
    pub async fn start() -> LoopRelay {
        Self::start_at("127.0.0.1:0".parse().expect("addr")).await
    }

    pub async fn start_at(addr: SocketAddr) -> LoopRelay {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot bind {addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let addr = listener.local_addr().expect("local addr");
        let relay: Arc<Relay> = Relay::new(RelayConfig::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = igloo::relay::run(listener, relay, async move {
                let _ = stopped.await;
            })
            .await;
        });
        LoopRelay {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Closes every connection and the listener.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

impl Drop for LoopRelay {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// An igloo daemon holding `share` of `group`, talking to `relay`, its own relay off.
pub fn igloo(
    group: &GroupPackage,
    share: &SharePackage,
    relay: &str,
    timeout_ms: u64,
) -> TestServer {
    let g = encode_group(group);
    let s = encode_share(share);
    let t = timeout_ms.to_string();
    TestServer::start(&[
        "--headless",
        "true",
        "--group-cred",
        &g,
        "--share-cred",
        &s,
        "--relays",
        relay,
        "--relay-enabled",
        "false",
        "--frostr-sign-timeout",
        &t,
    ])
}

/// A headless igloo daemon running member `i` of a V2 keyset (a `bfprofile` in SHARE_CRED),
/// talking to `relay`, its own relay off.
pub fn v2_node(ks: &igloo::frostr_v2::keyset::Keyset, i: usize, relay: &str) -> TestServer {
    use igloo::frostr_v2::credentials::{KdfParams, Profile, encode_profile};
    const PW: &str = "v2 node password";
    let profile = encode_profile(
        &Profile {
            name: format!("node-{i}"),
            share_secret: ks.shares[i].secret.clone(),
            relays: vec![relay.to_string()],
            policy_overrides: vec![],
            group: ks.group.clone(),
        },
        PW,
        KdfParams::FLOOR,
        &mut rand::thread_rng(),
    )
    .expect("bfprofile");
    TestServer::start(&[
        "--headless",
        "true",
        "--share-cred",
        &profile,
        "--share-password",
        PW,
        "--relays",
        relay,
        "--relay-enabled",
        "false",
    ])
}

/// Waits until the daemon's node has an open relay socket.
pub async fn wait_connected(server: &TestServer) {
    crate::common::wait_node_connected(&server.url("/api/status")).await;
}

pub async fn post(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST /api/sign {message}` retried until 200 (peers may still be subscribing).
pub async fn sign_until_ok(server: &TestServer, msg: &[u8; 32], wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let (s, b) = post(server, "/api/sign", &json!({ "message": hex::encode(msg) })).await;
        if s == 200 {
            return b["signature"].as_str().expect("signature").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "signing never succeeded: {s} {b}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub fn verify(group_xonly: &[u8; 32], msg: &[u8; 32], sig_hex: &str) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(group_xonly) else {
        return false;
    };
    hex::decode(sig_hex)
        .ok()
        .and_then(|s| Signature::try_from(s.as_slice()).ok())
        .is_some_and(|sig| vk.verify_raw(msg, &sig).is_ok())
}

/// An `igloo` binary in its own process on 127.0.0.1 (port 0), configured through the
/// environment only, as a headless operator runs it; killed on drop.
pub struct IglooProcess {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl IglooProcess {
    /// Holds `share` of `group`, talks to `relay`, its own relay off; `extra` adds variables.
    pub fn spawn(
        group: &GroupPackage,
        share: &SharePackage,
        relay: &str,
        timeout_ms: u64,
        extra: &[(&str, &str)],
    ) -> IglooProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_igloo"));
        cmd.current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HEADLESS", "true")
            .env("GROUP_CRED", encode_group(group))
            .env("SHARE_CRED", encode_share(share).as_str())
            .env("RELAYS", relay)
            .env("RELAY_ENABLED", "false")
            .env("AUTH_ENABLED", "false")
            .env("HOST_NAME", "127.0.0.1")
            .env("HOST_PORT", "0")
            .env("DB_PATH", dir.path().join("data"))
            .env("FROSTR_SIGN_TIMEOUT", timeout_ms.to_string())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run the igloo binary");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the bound port from the start-up log, then keeps draining the pipe (echoed
        // when IGLOO_CHILD_LOG is set, e.g. to see RUST_LOG output).
        let echo = std::env::var_os("IGLOO_CHILD_LOG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[igloo {}] {line}", std::process::id());
                }
                if let Some(i) = line.find("://127.0.0.1:") {
                    let digits: String = line
                        .get(i + 13..)
                        .unwrap_or("")
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    let _ = tx.send(digits.parse::<u16>().unwrap_or(0));
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("igloo logs its address");
        assert_ne!(port, 0, "igloo logged no usable port");
        IglooProcess {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until the node has an open relay socket.
    pub async fn wait_connected(&self) {
        crate::common::wait_node_connected(&self.url("/api/status")).await;
    }
}

impl Drop for IglooProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
