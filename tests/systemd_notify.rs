//! The notify protocol against a real unix datagram socket, as systemd would provide it.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use igloo::systemd::{Notifier, spawn_watchdog};
use tokio::sync::{oneshot, watch};

const CHILD_ENV: &str = "IGLOO_NOTIFY_TEST_CHILD";

/// A socket standing in for systemd's, bound in a fresh temp dir.
fn listener() -> (tempfile::TempDir, UnixDatagram, Notifier) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let notifier = Notifier::new(&path).unwrap();
    (dir, sock, notifier)
}

/// Every datagram waiting on the socket.
fn drain(sock: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => out.push(String::from_utf8(buf[..n].to_vec()).unwrap()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
fn ready_status_stopping_arrive_as_datagrams() {
    let (_dir, sock, n) = listener();
    n.ready().unwrap();
    n.status("signing for 2-of-3 group \"home\"").unwrap();
    n.status("line one\nWATCHDOG=1").unwrap();
    n.stopping().unwrap();
    assert_eq!(
        drain(&sock),
        [
            "READY=1",
            "STATUS=signing for 2-of-3 group \"home\"",
            "STATUS=line one WATCHDOG=1",
            "STOPPING=1",
        ]
    );
}

#[test]
fn abstract_socket_name() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!(
        "igloo-notify-test-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_nonblocking(true).unwrap();
    Notifier::new(format!("@{name}")).unwrap().ready().unwrap();
    assert_eq!(drain(&sock), ["READY=1"]);
}

/// `from_env` reads the real `NOTIFY_SOCKET`: checked in a re-executed copy of this binary so no
/// test mutates the shared process environment.
#[test]
fn from_env_uses_notify_socket() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let n = Notifier::from_env();
        assert!(n.is_enabled());
        n.ready().unwrap();
        return;
    }
    let (_dir, sock, _) = listener();
    let path = sock.local_addr().unwrap().as_pathname().unwrap().to_owned();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["from_env_uses_notify_socket", "--exact", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("NOTIFY_SOCKET", &path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(drain(&sock), ["READY=1"]);
}

/// Lets spawned tasks run after a paused-clock advance.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

async fn pass(time: Duration) {
    tokio::time::advance(time).await;
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn watchdog_pings_only_while_healthy() {
    let (_dir, sock, n) = listener();
    let interval = Duration::from_secs(10);
    let (health_tx, health_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = spawn_watchdog(n, interval, health_rx, async {
        let _ = stop_rx.await;
    });
    settle().await;

    // Unhealthy: silence for several intervals.
    pass(Duration::from_secs(35)).await;
    assert!(drain(&sock).is_empty());

    // Turning healthy pings at once, then once per interval.
    health_tx.send(true).unwrap();
    settle().await;
    assert_eq!(drain(&sock), ["WATCHDOG=1"]);
    for _ in 0..3 {
        pass(interval).await;
        assert_eq!(drain(&sock), ["WATCHDOG=1"]);
    }

    // Unhealthy again: silence.
    health_tx.send(false).unwrap();
    settle().await;
    drain(&sock);
    pass(interval * 4).await;
    assert!(drain(&sock).is_empty());

    // Shutdown ends the task, and nothing is sent afterwards.
    health_tx.send(true).unwrap();
    settle().await;
    drain(&sock);
    stop_tx.send(()).unwrap();
    settle().await;
    assert!(task.is_finished());
    pass(interval * 3).await;
    assert!(drain(&sock).is_empty());
}

#[tokio::test(start_paused = true)]
async fn watchdog_keeps_last_health_when_sender_is_gone() {
    let (_dir, sock, n) = listener();
    let (health_tx, health_rx) = watch::channel(true);
    let (_stop_tx, stop_rx) = oneshot::channel::<()>();
    let _task = spawn_watchdog(n, Duration::from_secs(5), health_rx, async {
        let _ = stop_rx.await;
    });
    settle().await;
    drop(health_tx);
    settle().await;
    drain(&sock);
    pass(Duration::from_secs(5)).await;
    assert_eq!(drain(&sock), ["WATCHDOG=1"]);
}
