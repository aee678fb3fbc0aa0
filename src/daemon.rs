//! Start-up and shutdown of the whole daemon around one bound listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::control::{Control, ControlParts};
use crate::http::{self, AppInner, AppState};
use crate::relay::Relay;
use crate::store::{Store, StoreError};
use crate::systemd::{self, Notifier};
use crate::{server, tls};

/// Why the daemon could not start or run. Each maps to a clear line and exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("device key: {0}")]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("cannot bind the relay port {port}: {source}")]
    RelayBind { port: u16, source: std::io::Error },
    #[error("cannot bind the HTTP redirect port {port}: {source}")]
    RedirectBind { port: u16, source: std::io::Error },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the daemon on an already-bound `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    start(config, listener).await?.serve(shutdown).await
}

/// A daemon that has finished start-up (TLS ready, extra listeners bound) and is about to
/// serve. Tests wait for this before talking to it.
pub struct Daemon {
    config: Arc<Config>,
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    redirect: Option<TcpListener>,
    relay: Option<Arc<Relay>>,
    relay_listener: Option<TcpListener>,
    store: Store,
    health: tokio::sync::watch::Receiver<bool>,
    notifier: Notifier,
    /// The one shutdown signal: the node, the relay and every listener watch it.
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// The node supervisor the HTTP layer uses (e.g. to run a V2 node: `apply_v2`).
    node: crate::node::Supervisor,
    /// The running system (what every caller drives).
    control: Control,
    /// The first-run setup code drawn at start (logged once, then dropped).
    setup_code: Option<zeroize::Zeroizing<String>>,
}

/// Everything that can fail at start-up happens here, before the first request.
pub async fn start(config: Config, listener: TcpListener) -> Result<Daemon, DaemonError> {
    start_with_notifier(config, listener, Notifier::from_env()).await
}

/// [`start`] with an explicit systemd notifier (tests pass a socket of their own).
pub async fn start_with_notifier(
    config: Config,
    listener: TcpListener,
    notifier: Notifier,
) -> Result<Daemon, DaemonError> {
    let config = Arc::new(config);
    // Opening the store (fsync) and preparing TLS (maybe key generation) both block: run them
    // off the async thread, side by side.
    let db_path = config.db_path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&db_path));
    let tls_cfg = config.clone();
    let tls = tokio::task::spawn_blocking(move || tls::server_config(&tls_cfg));
    let join = |e: tokio::task::JoinError| std::io::Error::other(e.to_string());
    let store = store.await.map_err(join)??;
    let tls = tls.await.map_err(join)??;
    tracing::info!(path = %store.path().display(), schema = store.schema_version(), "store open");
    // Settings saved through /api/env lie over the start-up configuration from here on.
    let live = crate::control::live::LiveConfig::load(config, &store);
    let config = live.current();
    // The relay exists before anything else that might use it (the node connects to it).
    let relay = config
        .relay
        .enabled
        .then(|| Relay::new(config.relay.clone()));
    let relay_listener = match (&relay, config.relay.port) {
        (Some(_), Some(port)) => Some(
            TcpListener::bind((config.bind.ip(), port))
                .await
                .map_err(|source| DaemonError::RelayBind { port, source })?,
        ),
        _ => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The running system: node supervisor, health runner, vault; the node starts from stored
    // (or environment) credentials here. A bad credential is logged and the node stays off;
    // the server still serves.
    let (control, health) = Control::start(ControlParts {
        live,
        store: store.clone(),
        relay: relay.clone(),
        stop: stop_rx,
    })?;
    let node = control.node.clone();
    // The NIP-46 remote signer: always on, served with nobody logged in (it opens relay
    // connections only while an app is paired or a bunker:// secret is unused).
    let nip46 = crate::nip46::Service::new(
        crate::nip46::backend::Backend::new(control.clone()),
        nip46_default_relays(
            &config,
            listener.local_addr()?,
            relay_listener
                .as_ref()
                .map(|l| l.local_addr())
                .transpose()?,
            tls.is_some(),
        ),
        crate::nip46::service::Timing {
            approval: config.nip46_approval_timeout,
            secret_ttl: config.nip46_bunker_secret_ttl,
        },
    );
    nip46.spawn(stop_tx.subscribe());
    // First run without ADMIN_SECRET: a one-time setup code, logged once we listen.
    let setup_code = crate::auth::setup_code::on_start(&config, &store);
    let state = AppState::new(AppInner {
        control: control.clone(),
        tls_enabled: tls.is_some(),
        guard: Arc::new(http::ratelimit::Guard::new(&config)),
        nip46,
    });
    let app = http::router(state);
    let redirect = match (config.http_redirect_port, tls.is_some()) {
        (Some(port), true) => Some(
            TcpListener::bind((config.bind.ip(), port))
                .await
                .map_err(|source| DaemonError::RedirectBind { port, source })?,
        ),
        _ => None,
    };
    Ok(Daemon {
        config,
        listener,
        app,
        tls,
        redirect,
        relay,
        relay_listener,
        store,
        health,
        notifier,
        stop_tx,
        node,
        control,
        setup_code,
    })
}

impl Daemon {
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The node supervisor of this daemon.
    pub fn supervisor(&self) -> crate::node::Supervisor {
        self.node.clone()
    }

    /// The control layer of this daemon.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Serves until `shutdown` resolves, then drains connections within the grace period.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DaemonError> {
        let Daemon {
            config,
            listener,
            app,
            tls,
            redirect,
            relay,
            relay_listener,
            store,
            health,
            notifier,
            stop_tx,
            node,
            control,
            setup_code,
        } = self;
        let local = listener.local_addr()?;
        // One shutdown signal fans out to every listener.
        let stop_rx = stop_tx.subscribe();
        let wait_stop = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let redirect = match redirect {
            Some(l) => {
                tracing::info!(addr = %l.local_addr()?, "redirecting plain HTTP to HTTPS");
                Some(tokio::spawn(server::serve(
                    l,
                    server::redirect_router(local.port()),
                    None,
                    wait_stop(),
                    config.shutdown_timeout,
                )))
            }
            None => None,
        };
        let mut relay_task = None;
        if let Some(relay) = &relay {
            relay.spawn_maintenance(wait_stop());
            if let Some(l) = relay_listener {
                tracing::info!(addr = %l.local_addr()?, "relay listening on its own port");
                relay_task = Some(tokio::spawn(crate::relay::run(
                    l,
                    relay.clone(),
                    wait_stop(),
                )));
            }
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            url = %format!("{scheme}://{local}"),
            mode = if config.headless { "headless" } else { "database" },
            "igloo is listening"
        );
        if let Some(code) = setup_code {
            let url = crate::auth::setup_code::url(local, tls.is_some(), &code);
            // Printed once on purpose: the owner needs it to create the first admin.
            tracing::warn!(
                "no admin yet: open {url} to create the admin account (one-time setup code {}; `igloo setup-code` prints a new one)",
                code.as_str()
            );
        }
        let stop_notifier = notifier.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_notifier.stopping();
            let _ = stop_tx.send(true);
        });
        // The listener is bound and the store is open: tell systemd.
        let _ = notifier.ready();
        let _ = notifier.status(&format!("Serving on {scheme}://{local}"));
        let watchdog = systemd::watchdog_interval().map(|interval| {
            systemd::spawn_watchdog(notifier.clone(), interval, health, wait_stop())
        });
        let served = server::serve(listener, app, tls, wait_stop(), config.shutdown_timeout).await;
        if let Some(r) = redirect {
            let _ = r.await;
        }
        if let Some(r) = relay_task {
            let _ = r.await;
        }
        if let Some(w) = watchdog {
            let _ = w.await;
        }
        let _ = notifier.status("Closing the store");
        // The app (and its store handles) is gone with the server. The control layer holds
        // store handles too; the nodes were told to stop with everything else, the supervisor
        // lets go of the store, and the nodes' last tasks (the final count flush, V2 pools
        // sealed for the next start) finish and drop theirs. Then this is the last handle and
        // the file closes cleanly.
        drop(control);
        node.release_store();
        drop(node);
        let deadline = tokio::time::Instant::now() + STORE_RELEASE_WAIT;
        while store.other_handles() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let closed = tokio::task::spawn_blocking(move || store.close()).await;
        match closed {
            Ok(Ok(outcome)) => tracing::info!(?outcome, "store closed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "store close failed"),
            Err(e) => tracing::warn!(error = %e, "store close task failed"),
        }
        served?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long shutdown waits for the last holders of the store (node tasks finishing) before
/// closing it anyway (then the file closes when the last one drops; every commit is durable).
const STORE_RELEASE_WAIT: Duration = Duration::from_secs(5);

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

/// The NIP-46 relays until the owner sets some: the node's relays and the built-in relay
/// (`ws://` on its own port, or on the HTTP port when that is plain HTTP).
fn nip46_default_relays(
    config: &Config,
    http: std::net::SocketAddr,
    relay: Option<std::net::SocketAddr>,
    tls: bool,
) -> Vec<String> {
    let mut relays = Vec::new();
    if config.relay.enabled {
        let at = match (relay, tls) {
            (Some(r), _) => Some(r),
            (None, false) => Some(http),
            (None, true) => None,
        };
        if let Some(a) = at {
            let ip = if a.ip().is_unspecified() {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                a.ip()
            };
            relays.push(format!("ws://{}", std::net::SocketAddr::new(ip, a.port())));
        }
    }
    for r in &config.relays {
        if !relays.contains(r) {
            relays.push(r.clone());
        }
    }
    relays
}
