//! The nostr-tools NIP-46 client process (tests/interop/nip46-client.mjs), shared by
//! tests/nip46.rs and benches/nip46_live.rs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

/// The nostr-tools client process; killed on drop.
pub struct Js {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<Value>,
    next_id: u64,
    stash: Vec<Value>,
}

impl Js {
    pub fn start() -> Js {
        let dir = interop_dir();
        assert!(
            dir.join("node_modules/nostr-tools").is_dir(),
            "the JavaScript libraries are not installed: run `npm ci --prefix tests/interop` first"
        );
        let mut child = Command::new("node")
            .arg("--experimental-websocket")
            .arg("--no-warnings")
            .arg("nip46-client.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` ({e}); install Node.js 20"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Js {
            child,
            stdin,
            rx,
            next_id: 0,
            stash: Vec::new(),
        }
    }

    /// Sends a command; returns its id.
    pub fn send(&mut self, mut cmd: Value) -> u64 {
        self.next_id += 1;
        cmd["id"] = json!(self.next_id);
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write command");
        stdin.flush().expect("flush");
        self.next_id
    }

    /// The next line answering command `id`.
    pub fn recv(&mut self, id: u64) -> Value {
        if let Some(i) = self.stash.iter().position(|v| v["id"] == json!(id)) {
            return self.stash.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the JS client did not answer command {id}"));
            if v["id"] == json!(id) {
                return v;
            }
            self.stash.push(v);
        }
    }

    pub fn cmd(&mut self, cmd: Value) -> Value {
        let id = self.send(cmd);
        self.recv(id)
    }
}

impl Drop for Js {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
