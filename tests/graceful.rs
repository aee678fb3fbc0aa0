//! Graceful shutdown of the accept loop: in-flight requests finish, new connections are
//! refused, and a request that outlives the grace period does not hold the process.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

/// The server, its stop trigger, its task, and a channel that gets one message each time the
/// slow handler starts (proof that a request is in flight, instead of a guessed sleep).
async fn spawn(
    grace: Duration,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let (entered_tx, entered) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route(
        "/slow",
        get(move || {
            let entered_tx = entered_tx.clone();
            async move {
                let _ = entered_tx.send(());
                tokio::time::sleep(Duration::from_millis(400)).await;
                "done"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(igloo::server::serve(
        listener,
        app,
        None,
        async move {
            let _ = rx.await;
        },
        grace,
    ));
    (addr, tx, task, entered)
}

/// Waits (at most 5 s) until the slow handler runs.
async fn in_flight(entered: &mut tokio::sync::mpsc::UnboundedReceiver<()>) {
    tokio::time::timeout(Duration::from_secs(5), entered.recv())
        .await
        .expect("the request reached its handler")
        .expect("server alive");
}

#[tokio::test]
async fn in_flight_request_finishes_and_new_connections_are_refused() {
    let (addr, stop, task, mut entered) = spawn(Duration::from_secs(5)).await;
    let req = tokio::spawn(async move {
        reqwest::get(format!("http://{addr}/slow"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    in_flight(&mut entered).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed once shutdown starts"
    );
    assert_eq!(
        req.await.unwrap(),
        "done",
        "the in-flight request completed"
    );
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_is_bounded_by_the_grace_period() {
    let (addr, stop, task, mut entered) = spawn(Duration::from_millis(100)).await;
    let req = tokio::spawn(async move {
        reqwest::get(format!("http://{addr}/slow"))
            .await
            .map(|r| r.status())
    });
    // The request is in its handler (400 ms to go) when shutdown starts.
    in_flight(&mut entered).await;
    let t0 = Instant::now();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(90),
        "serve waited for the in-flight request during the grace period: {took:?}"
    );
    assert!(
        took < Duration::from_millis(350),
        "serve returned after {took:?}, before the 400 ms handler finished"
    );
    // serve no longer waits for it (its connection task may still finish in this runtime;
    // in the daemon the process exits).
    drop(req);
}
