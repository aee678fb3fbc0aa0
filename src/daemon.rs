//! Start-up and shutdown of the whole daemon around one bound listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{self, AppInner, AppState};
use crate::{server, tls};

/// Why the daemon could not start or run. Each maps to a clear line and exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot bind the HTTP redirect port {port}: {source}")]
    RedirectBind { port: u16, source: std::io::Error },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the daemon on an already-bound `listener` until `shutdown` resolves.
/// Tests bind port 0 and call this directly.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let tls_config = tls::server_config(&config)?;
    let local = listener.local_addr()?;
    let state = AppState::new(AppInner {
        config: config.clone(),
        started: Instant::now(),
        tls_enabled: tls_config.is_some(),
    });
    let app = http::router(state);

    // One shutdown signal fans out to every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait_stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let redirect = match (config.http_redirect_port, tls_config.is_some()) {
        (Some(port), true) => {
            let l = TcpListener::bind((config.bind.ip(), port))
                .await
                .map_err(|source| DaemonError::RedirectBind { port, source })?;
            tracing::info!(addr = %l.local_addr()?, "redirecting plain HTTP to HTTPS");
            Some(tokio::spawn(server::serve(
                l,
                server::redirect_router(local.port()),
                None,
                wait_stop(),
                config.shutdown_timeout,
            )))
        }
        _ => None,
    };

    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(url = %format!("{scheme}://{local}"), mode = if config.headless { "headless" } else { "database" }, "igloo is listening");

    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    server::serve(
        listener,
        app,
        tls_config,
        wait_stop(),
        config.shutdown_timeout,
    )
    .await?;
    if let Some(r) = redirect {
        let _ = r.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
