//! The relay pool: one WebSocket per relay, one subscription each, every event published to
//! every connected relay, incoming events verified and de-duplicated by id, reconnection with
//! exponential backoff and jitter, and a per-relay state that says what is true ("connected"
//! means an open socket, never a configured URL).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use nostr::prelude::{ClientMessage, Event, EventId, Filter, RelayMessage, SubscriptionId};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// Settings of a pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub urls: Vec<String>,
    /// The subscription sent to every relay (re-sent on every reconnect).
    pub filter: Filter,
    pub connect_timeout: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often a WebSocket ping measures the round-trip time.
    pub ping_interval: Duration,
}

impl PoolConfig {
    pub fn new(urls: Vec<String>, filter: Filter) -> Self {
        Self {
            urls,
            filter,
            connect_timeout: Duration::from_secs(30),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ping_interval: Duration::from_secs(30),
        }
    }
}

/// What `/api/status` shows for one relay.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RelayState {
    pub url: String,
    pub connected: bool,
    /// ISO-8601 time the current connection (or the current outage) began.
    pub since: Option<String>,
    pub last_error: Option<String>,
    /// Round-trip time of the last WebSocket ping, in milliseconds.
    pub rtt_ms: Option<u64>,
    pub reconnects: u32,
}

/// One frame to send: to every connected relay, or to the relay at one index only.
#[derive(Clone)]
struct Outbound {
    to: Option<usize>,
    frame: Arc<String>,
}

/// A running pool. Dropping every handle does not stop it; `shutdown` does.
#[derive(Clone)]
pub struct PoolHandle {
    outbound: broadcast::Sender<Outbound>,
    states: Arc<Vec<Mutex<RelayState>>>,
    activity: watch::Sender<Instant>,
}

impl PoolHandle {
    /// Sends `event` to every relay that is connected now; returns how many that is.
    pub fn publish(&self, event: &Event) -> usize {
        let frame = Arc::new(ClientMessage::event(event.clone()).as_json());
        self.outbound
            .send(Outbound { to: None, frame })
            .unwrap_or(0)
    }

    /// Sends `event` to the relay at `index` (in the configured order) only; false when that
    /// relay is not connected now.
    pub fn publish_to(&self, index: usize, event: &Event) -> bool {
        let connected = self
            .states
            .get(index)
            .is_some_and(|m| m.lock().map(|g| g.connected).unwrap_or(false));
        if !connected {
            return false;
        }
        let frame = Arc::new(ClientMessage::event(event.clone()).as_json());
        self.outbound
            .send(Outbound {
                to: Some(index),
                frame,
            })
            .is_ok()
    }

    pub fn states(&self) -> Vec<RelayState> {
        self.states
            .iter()
            .map(|s| {
                s.lock()
                    .map(|g| g.clone())
                    .unwrap_or_else(|p| p.into_inner().clone())
            })
            .collect()
    }

    pub fn connected_count(&self) -> usize {
        self.states().iter().filter(|s| s.connected).count()
    }

    /// Marks a connection change or traffic; the node's health watches this.
    pub fn activity(&self) -> watch::Receiver<Instant> {
        self.activity.subscribe()
    }

    /// Marks outgoing traffic (a message we sent) as activity.
    pub fn touch(&self) {
        self.activity.send_replace(Instant::now());
    }
}

/// A bounded set of recently seen event ids (FIFO eviction).
struct Seen {
    set: HashSet<EventId>,
    order: VecDeque<EventId>,
    cap: usize,
}

impl Seen {
    fn new(cap: usize) -> Self {
        Self {
            set: HashSet::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            cap,
        }
    }
    /// True the first time an id is seen.
    fn insert(&mut self, id: EventId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Starts one task per relay. Verified, de-duplicated events arrive on the returned receiver.
/// Feeds every event the pool delivers to `on_event` until the pool closes or `shutdown`
/// turns true: the receive loop of a node of either protocol.
pub async fn receive_until(
    mut events: mpsc::Receiver<Event>,
    mut shutdown: watch::Receiver<bool>,
    mut on_event: impl FnMut(&Event),
) {
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => on_event(&ev),
                None => break,
            },
            r = shutdown.wait_for(|s| *s) => {
                let _ = r;
                break;
            }
        }
    }
}

pub fn start(
    cfg: PoolConfig,
    tls: Arc<rustls::ClientConfig>,
    shutdown: watch::Receiver<bool>,
) -> (PoolHandle, mpsc::Receiver<Event>) {
    let (outbound, _) = broadcast::channel(256);
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (activity, _) = watch::channel(Instant::now());
    let states: Arc<Vec<Mutex<RelayState>>> = Arc::new(
        cfg.urls
            .iter()
            .map(|u| {
                Mutex::new(RelayState {
                    url: u.clone(),
                    connected: false,
                    since: None,
                    last_error: None,
                    rtt_ms: None,
                    reconnects: 0,
                })
            })
            .collect(),
    );
    let handle = PoolHandle {
        outbound,
        states,
        activity,
    };
    let seen = Arc::new(Mutex::new(Seen::new(4096)));
    for (i, url) in cfg.urls.iter().enumerate() {
        let task = RelayTask {
            index: i,
            url: url.clone(),
            cfg: cfg.clone(),
            tls: tls.clone(),
            handle: handle.clone(),
            events: events_tx.clone(),
            seen: seen.clone(),
        };
        let shutdown = shutdown.clone();
        tokio::spawn(task.run(shutdown));
    }
    (handle, events_rx)
}

/// The default TLS client configuration for `wss://` relays: webpki roots, ring.
pub fn default_tls() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match cfg {
        Ok(c) => Arc::new(c),
        // ring's defaults always include TLS 1.2 and 1.3; this branch is unreachable in practice.
        Err(_) => Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3 is supported by ring")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        ),
    }
}

struct RelayTask {
    index: usize,
    url: String,
    cfg: PoolConfig,
    tls: Arc<rustls::ClientConfig>,
    handle: PoolHandle,
    events: mpsc::Sender<Event>,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("invalid relay URL")]
    BadUrl,
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("relay closed the connection")]
    Closed,
}

impl RelayTask {
    /// Update this relay's state; `activity` marks it for the health model (a connection
    /// change does, a round-trip measurement or a failed reconnect attempt does not).
    fn set_state(&self, activity: bool, f: impl FnOnce(&mut RelayState)) {
        if let Some(m) = self.handle.states.get(self.index) {
            let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut g);
        }
        if activity {
            self.handle.activity.send_replace(Instant::now());
        }
    }

    fn is_connected(&self) -> bool {
        self.handle
            .states
            .get(self.index)
            .is_some_and(|m| m.lock().map(|g| g.connected).unwrap_or(false))
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut attempt: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let outcome = tokio::select! {
                r = self.session(&mut attempt) => r,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let err = match outcome {
                Ok(()) => SessionError::Closed,
                Err(e) => e,
            };
            tracing::debug!(relay = %self.url, error = %err, "relay disconnected");
            let was_connected = self.is_connected();
            self.set_state(was_connected, |s| {
                if s.connected {
                    s.since = Some(crate::timefmt::iso8601(SystemTime::now()));
                }
                s.connected = false;
                s.rtt_ms = None;
                s.last_error = Some(err.to_string());
                s.reconnects = s.reconnects.saturating_add(1);
            });
            let delay = backoff(&self.cfg, attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {},
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// One connection: connect, subscribe, then pump frames both ways until it breaks.
    async fn session(&self, attempt: &mut u32) -> Result<(), SessionError> {
        let stream = tokio::time::timeout(self.cfg.connect_timeout, self.connect())
            .await
            .map_err(|_| SessionError::Timeout(self.cfg.connect_timeout))??;
        self.pump(stream, attempt).await
    }

    async fn connect(&self) -> Result<Box<dyn Duplex>, SessionError> {
        let (secure, rest) = if let Some(r) = self.url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = self.url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(SessionError::BadUrl);
        };
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let (host, port) = split_host_port(authority, if secure { 443 } else { 80 })
            .ok_or(SessionError::BadUrl)?;
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        let _ = tcp.set_nodelay(true);
        if secure {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| SessionError::BadUrl)?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await?;
            Ok(Box::new(tls))
        } else {
            Ok(Box::new(tcp))
        }
    }

    async fn pump(&self, stream: Box<dyn Duplex>, attempt: &mut u32) -> Result<(), SessionError> {
        let (ws, _) = tokio_tungstenite::client_async(self.url.as_str(), stream).await?;
        let (mut sink, mut source) = ws.split();
        let sub = SubscriptionId::new("igloo");
        let req = ClientMessage::req(sub.clone(), vec![self.cfg.filter.clone()]).as_json();
        sink.send(Message::text(req)).await?;
        let mut outbound = self.handle.outbound.subscribe();
        *attempt = 0;
        self.set_state(true, |s| {
            s.connected = true;
            s.since = Some(crate::timefmt::iso8601(SystemTime::now()));
            s.last_error = None;
        });
        tracing::info!(relay = %self.url, "relay connected");
        let mut ping = tokio::time::interval(self.cfg.ping_interval);
        let mut ping_sent: Option<Instant> = None;
        loop {
            tokio::select! {
                frame = source.next() => {
                    let msg = match frame {
                        Some(m) => m?,
                        None => return Err(SessionError::Closed),
                    };
                    match msg {
                        Message::Text(t) => self.on_text(t.as_str()).await,
                        Message::Pong(_) => {
                            if let Some(t0) = ping_sent.take() {
                                let rtt = t0.elapsed().as_millis() as u64;
                                self.set_state(false, |s| s.rtt_ms = Some(rtt));
                            }
                        }
                        Message::Close(_) => return Err(SessionError::Closed),
                        _ => {}
                    }
                }
                out = outbound.recv() => match out {
                    Ok(Outbound { to, frame }) if to.is_none_or(|i| i == self.index) => {
                        sink.send(Message::text(frame.as_str())).await?
                    }
                    Ok(_) => {}
                    // A burst larger than the queue: the oldest frames are gone; carry on.
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(relay = %self.url, dropped = n, "publish queue overflowed");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = ping.tick() => {
                    ping_sent = Some(Instant::now());
                    sink.send(Message::Ping(Vec::new().into())).await?;
                }
            }
        }
    }

    async fn on_text(&self, text: &str) {
        let msg = match RelayMessage::from_json(text) {
            Ok(m) => m,
            Err(_) => {
                tracing::debug!(relay = %self.url, "unparsable relay frame");
                return;
            }
        };
        match msg {
            RelayMessage::Event { event, .. } => {
                let event = event.into_owned();
                let first = self
                    .seen
                    .lock()
                    .map(|mut s| s.insert(event.id))
                    .unwrap_or(false);
                if !first {
                    return;
                }
                if event.verify().is_err() {
                    tracing::debug!(relay = %self.url, id = %event.id, "event with a bad id or signature dropped");
                    return;
                }
                self.handle.activity.send_replace(Instant::now());
                let _ = self.events.send(event).await;
            }
            RelayMessage::Ok {
                event_id,
                status: false,
                message,
            } => {
                tracing::debug!(relay = %self.url, id = %event_id, %message, "relay refused an event");
            }
            RelayMessage::Notice(n) => {
                tracing::debug!(relay = %self.url, notice = %n, "relay notice")
            }
            _ => {}
        }
    }
}

/// Exponential backoff with ±25% jitter, so a fleet of nodes does not reconnect in lockstep.
fn backoff(cfg: &PoolConfig, attempt: u32) -> Duration {
    let base = cfg
        .min_backoff
        .saturating_mul(1u32 << attempt.min(16))
        .min(cfg.max_backoff);
    let jitter = rand::random::<f64>() * 0.5 + 0.75;
    base.mul_f64(jitter)
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_from_authority() {
        assert_eq!(
            split_host_port("relay.example:7777", 443),
            Some(("relay.example".into(), 7777))
        );
        assert_eq!(
            split_host_port("relay.example", 443),
            Some(("relay.example".into(), 443))
        );
        assert_eq!(split_host_port("[::1]:80", 443), Some(("::1".into(), 80)));
        assert_eq!(split_host_port("[::1]", 443), Some(("::1".into(), 443)));
        assert_eq!(split_host_port("", 443), None);
        assert_eq!(split_host_port("h:notaport", 443), None);
    }

    #[test]
    fn seen_set_is_bounded_and_dedupes() {
        let mut s = Seen::new(2);
        let a = EventId::from_byte_array([0; 32]);
        let b = EventId::from_byte_array([1; 32]);
        let c = EventId::from_byte_array([2; 32]);
        assert!(s.insert(a));
        assert!(!s.insert(a));
        assert!(s.insert(b));
        assert!(s.insert(c));
        assert!(s.insert(a), "a was evicted");
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let cfg = PoolConfig::new(vec![], Filter::new());
        let d0 = backoff(&cfg, 0);
        assert!(d0 >= Duration::from_millis(750) && d0 <= Duration::from_millis(1250));
        let d10 = backoff(&cfg, 10);
        assert!(d10 >= Duration::from_secs(45) && d10 <= Duration::from_secs(75));
    }
}
