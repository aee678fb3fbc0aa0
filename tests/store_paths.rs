//! DB_PATH and the store's clean close, with the built binary as an operator runs it:
//! * an existing directory is a directory whatever its name (`mktemp -d`'s `tmp.Xy12`, an
//!   `igloo.d`): the store goes inside it;
//! * on SIGTERM every holder of the store lets go first, so it closes cleanly (the log says
//!   `store closed outcome=Closed`, never `Deferred`), with and without a running node.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;

const BIN: &str = env!("CARGO_BIN_EXE_igloo");

struct Daemon {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary on 127.0.0.1 port 0 in `dir`, clean environment plus `env`; waits until it
/// logs its address.
fn spawn(dir: &std::path::Path, env: &[(&str, String)]) -> Daemon {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST_NAME", "127.0.0.1")
        .env("HOST_PORT", "0")
        .env("NO_COLOR", "1")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("igloo runs");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening url=http://127.0.0.1:") {
                let digits: String = line[i + 31..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                let _ = tx.send(digits.parse::<u16>().unwrap_or(0));
            }
            sink.lock().unwrap().push(line);
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no listening line: {:?}", log.lock().unwrap())
        });
    Daemon { child, port, log }
}

/// SIGTERM, wait for exit 0, and return the whole log.
fn stop(mut d: Daemon) -> String {
    let ok = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // The reader thread gets the last lines right after the exit.
    std::thread::sleep(Duration::from_millis(200));
    d.log.lock().unwrap().join("\n")
}

async fn status_ok(port: u16) {
    let r = reqwest::get(format!("http://127.0.0.1:{port}/api/status"))
        .await
        .expect("status");
    assert_eq!(r.status().as_u16(), 200);
}

fn assert_closed_cleanly(log: &str) {
    assert!(
        log.contains("store closed outcome=Closed"),
        "the store did not close cleanly:\n{log}"
    );
    assert!(!log.contains("Deferred"), "{log}");
}

#[tokio::test]
async fn an_existing_directory_is_a_directory_whatever_its_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    for name in ["tmp.Xy12", "igloo.d"] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        let d = spawn(
            tmp.path(),
            &[("DB_PATH", dir.to_string_lossy().into_owned())],
        );
        status_ok(d.port).await;
        assert!(dir.join("igloo.redb").is_file(), "{name}: store not inside");
        let log = stop(d);
        assert!(!log.contains("not a regular file"), "{log}");
        assert_closed_cleanly(&log);
    }
    // A path that does not exist yet keeps the extension rule: the store file itself.
    let file = tmp.path().join("new.db");
    let d = spawn(
        tmp.path(),
        &[("DB_PATH", file.to_string_lossy().into_owned())],
    );
    status_ok(d.port).await;
    assert!(file.is_file());
    assert_closed_cleanly(&stop(d));
}

#[tokio::test]
async fn sigterm_closes_the_store_cleanly_with_a_running_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    // A headless node (its guard, count flusher and relay pool hold the store or the node).
    let env = |relays: String| {
        vec![
            (
                "DB_PATH",
                tmp.path().join("data").to_string_lossy().into_owned(),
            ),
            ("HEADLESS", "true".to_string()),
            ("GROUP_CRED", encode_group(&ks.group)),
            ("SHARE_CRED", encode_share(&ks.shares[0]).to_string()),
            ("RELAYS", relays),
        ]
    };
    let d = spawn(tmp.path(), &env("ws://127.0.0.1:9".into()));
    status_ok(d.port).await;
    let log = stop(d);
    assert!(log.contains("signing node started"), "{log}");
    assert_closed_cleanly(&log);

    // Database mode too (stores, sessions, the relay): a clean close.
    let d = spawn(
        tmp.path(),
        &[(
            "DB_PATH",
            tmp.path().join("db2").to_string_lossy().into_owned(),
        )],
    );
    status_ok(d.port).await;
    assert_closed_cleanly(&stop(d));
}
