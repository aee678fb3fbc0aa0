//! DB_PATH and the store's clean close, with the built binary as an operator runs it:
//! * an existing directory is a directory whatever its name (`mktemp -d`'s `tmp.Xy12`, an
//!   `igloo.d`): the store goes inside it;
//! * on SIGTERM every holder of the store lets go first, so it closes cleanly (the log says
//!   `store closed outcome=Closed`, never `Deferred`), with and without a running node.

mod common;

use common::daemon::Daemon;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;

/// The binary on 127.0.0.1 port 0 in `dir`, clean environment plus `env`.
fn spawn(dir: &std::path::Path, env: &[(&str, String)]) -> Daemon {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Daemon::spawn(dir, &env)
}

/// SIGTERM, wait for exit 0, and return the whole log.
fn stop(d: Daemon) -> String {
    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "{log}");
    log
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
