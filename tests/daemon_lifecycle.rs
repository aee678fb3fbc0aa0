//! The daemon's lifecycle as systemd and the operator see it: READY=1 once the listener is
//! bound and the store open, STOPPING=1 on shutdown, a store file with private modes that is
//! closed cleanly and reopens.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::{TestServer, client};

fn recv_all(sock: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[tokio::test]
async fn notifies_ready_then_stopping_and_store_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let notifier = igloo::systemd::Notifier::new(&sock_path).unwrap();

    let srv = TestServer::start_notifying(&[], notifier);
    // READY=1 arrives once serving starts; by then the port answers.
    let mut msgs = Vec::new();
    for _ in 0..20 {
        msgs.extend(recv_all(&sock));
        if msgs.iter().any(|m| m.contains("READY=1")) {
            break;
        }
    }
    assert!(msgs.iter().any(|m| m == "READY=1"), "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("STATUS=Serving on http://127.0.0.1:")),
        "{msgs:?}"
    );
    let res = client().get(srv.url("/api/status")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let data_dir = srv.data_dir.clone();
    let store_file = data_dir.join("igloo.redb");
    assert_eq!(
        std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&store_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    srv.stop().unwrap();
    let after = recv_all(&sock);
    assert!(after.iter().any(|m| m == "STOPPING=1"), "{after:?}");

    // The store was closed: it opens again at once (no lock held, no recovery needed).
    let store = igloo::store::Store::open(&data_dir).unwrap();
    assert_eq!(store.schema_version(), igloo::store::CURRENT_VERSION);
}
