//! Graceful shutdown of the accept loop: in-flight requests finish, new connections are
//! refused, and a request that outlives the grace period does not hold the process.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

async fn spawn(
    grace: Duration,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            "done"
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
    (addr, tx, task)
}

#[tokio::test]
async fn in_flight_request_finishes_and_new_connections_are_refused() {
    let (addr, stop, task) = spawn(Duration::from_secs(5)).await;
    let req = tokio::spawn(async move {
        reqwest::get(format!("http://{addr}/slow"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
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
    let (addr, stop, task) = spawn(Duration::from_millis(100)).await;
    let _req = tokio::spawn(async move {
        let _ = reqwest::get(format!("http://{addr}/slow")).await;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t0 = Instant::now();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(350),
        "serve returned after {took:?}, before the 400 ms handler finished"
    );
}
