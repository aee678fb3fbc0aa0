//! Helpers for the relay conformance tests and the relay benchmark: a relay on 127.0.0.1:0,
//! a real WebSocket client speaking `ClientMessage`/`RelayMessage`, and event signing.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use igloo::relay::{Relay, RelayConfig};
use k256::schnorr::SigningKey;
use nostr::prelude::*;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected message before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// A relay served on its own listener; shut down when dropped.
pub struct TestRelay {
    pub addr: SocketAddr,
    pub relay: Arc<Relay>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestRelay {
    pub async fn start(cfg: RelayConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let relay = Relay::new(cfg);
        let (stop, stopped) = oneshot::channel::<()>();
        let (stop2, stopped2) = oneshot::channel::<()>();
        relay.spawn_maintenance(async move {
            let _ = stopped2.await;
        });
        let r = Arc::clone(&relay);
        tokio::spawn(async move {
            let _ = igloo::relay::run(listener, r, async move {
                let _ = stopped.await;
                let _ = stop2.send(());
            })
            .await;
        });
        Self {
            addr,
            relay,
            stop: Some(stop),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url()).await
    }

    /// Stop accepting and close every relay connection.
    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What [`Client::next`] saw.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Recv {
    Msg(RelayMessage<'static>),
    Closed,
    TimedOut,
}

/// A NIP-01 client over a real WebSocket.
pub struct Client {
    pub ws: Ws,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .expect("websocket connect");
        Self { ws }
    }

    /// Connect with a tiny, fixed receive buffer, so a client that stops reading fills up fast
    /// (loopback autotuning would otherwise buffer tens of MiB).
    pub async fn connect_small_buffer(addr: SocketAddr) -> Self {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(8 * 1024).expect("SO_RCVBUF");
        let stream = sock.connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (ws, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/"), MaybeTlsStream::Plain(stream))
                .await
                .expect("websocket handshake");
        Self { ws }
    }

    pub async fn send_raw(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, msg: ClientMessage<'_>) {
        self.send_raw(msg.as_json()).await;
    }

    /// Next relay message (skipping pings); panics on timeout or close.
    pub async fn recv(&mut self) -> RelayMessage<'static> {
        match self.try_recv(WAIT).await {
            Some(m) => m,
            None => panic!("no relay message within {WAIT:?}"),
        }
    }

    /// Next relay message, or None on timeout *or* close (use [`Client::next`] where the
    /// difference matters).
    pub async fn try_recv(&mut self, wait: Duration) -> Option<RelayMessage<'static>> {
        match self.next(wait).await {
            Recv::Msg(m) => Some(m),
            Recv::Closed | Recv::TimedOut => None,
        }
    }

    /// Next relay message (skipping pings), told apart from a closed connection (a close
    /// frame, end of stream or a socket error) and from nothing within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Recv {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Recv::TimedOut,
                Ok(None) | Ok(Some(Err(_))) => return Recv::Closed,
                Ok(Some(Ok(m))) => m,
            };
            match next {
                Message::Text(t) => {
                    return Recv::Msg(
                        RelayMessage::from_json(t.as_str()).expect("relay sent valid JSON"),
                    );
                }
                Message::Close(_) => return Recv::Closed,
                _ => continue,
            }
        }
    }

    /// Assert the relay closes this connection within `wait` (messages before the close
    /// are skipped); a timeout fails.
    pub async fn expect_closed(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Recv::Closed => return,
                Recv::TimedOut => panic!("the connection was not closed within {wait:?}"),
                Recv::Msg(_) => continue,
            }
        }
    }

    /// Publish and return the OK (status, message).
    pub async fn publish(&mut self, event: &Event) -> (bool, String) {
        self.send(ClientMessage::event(event.clone())).await;
        match self.recv().await {
            RelayMessage::Ok {
                event_id,
                status,
                message,
            } => {
                assert_eq!(event_id, event.id, "OK for another event");
                (status, message.into_owned())
            }
            other => panic!("expected OK, got {other:?}"),
        }
    }

    /// Publish and insist the relay accepted it.
    pub async fn publish_ok(&mut self, event: &Event) {
        let (ok, msg) = self.publish(event).await;
        assert!(ok, "event refused: {msg}");
    }

    /// REQ and collect the stored events up to EOSE.
    pub async fn req(&mut self, sub: &str, filters: Vec<Filter>) -> Vec<Event> {
        self.send(ClientMessage::req(SubscriptionId::new(sub), filters))
            .await;
        let mut events = Vec::new();
        loop {
            match self.recv().await {
                RelayMessage::Event {
                    subscription_id,
                    event,
                } => {
                    assert_eq!(subscription_id.as_str(), sub);
                    events.push(event.into_owned());
                }
                RelayMessage::EndOfStoredEvents(id) => {
                    assert_eq!(id.as_str(), sub);
                    return events;
                }
                other => panic!("expected EVENT or EOSE, got {other:?}"),
            }
        }
    }

    /// Expect a live EVENT and return (subscription id, event).
    pub async fn live(&mut self) -> (String, Event) {
        match self.recv().await {
            RelayMessage::Event {
                subscription_id,
                event,
            } => (subscription_id.as_str().to_owned(), event.into_owned()),
            other => panic!("expected a live EVENT, got {other:?}"),
        }
    }

    /// Assert nothing arrives within `wait` and the connection stays open.
    pub async fn quiet(&mut self, wait: Duration) {
        match self.next(wait).await {
            Recv::TimedOut => {}
            Recv::Msg(m) => panic!("expected silence, got {m:?}"),
            Recv::Closed => panic!("expected silence on an open connection, but it closed"),
        }
    }
}

/// Signs test events with k256 (BIP-340), independently of the relay's libsecp256k1 verifier.
pub struct Signer {
    key: SigningKey,
    pub pubkey: PublicKey,
}

static AUX: AtomicU64 = AtomicU64::new(1);

impl Signer {
    /// A deterministic key from a small seed (1, 2, 3, ...).
    pub fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[24..].copy_from_slice(&seed.max(1).to_be_bytes());
        bytes[0] = 0x11;
        let key = SigningKey::from_bytes(&bytes).expect("valid secret key");
        let pubkey =
            PublicKey::from_slice(&key.verifying_key().to_bytes()).expect("valid x-only key");
        Self { key, pubkey }
    }

    pub fn event(&self, kind: u16, content: &str, tags: &[&[&str]], created_at: u64) -> Event {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|t| Tag::parse(t.iter().copied()).expect("tag"))
            .collect();
        let unsigned = EventBuilder::new(Kind::from_u16(kind), content)
            .tags(tags)
            .custom_created_at(Timestamp::from_secs(created_at))
            .finalize_unsigned(self.pubkey);
        let id = unsigned.compute_id();
        let mut aux = [0u8; 32];
        aux[..8].copy_from_slice(&AUX.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let sig = self
            .key
            .sign_raw(id.as_bytes(), &aux)
            .expect("schnorr sign");
        let sig = Signature::from_slice(&sig.to_bytes()).expect("signature bytes");
        unsigned.add_signature(sig).expect("signature verifies")
    }

    /// A kind-1 note created now.
    pub fn note(&self, content: &str) -> Event {
        self.event(1, content, &[], now())
    }
}

pub fn now() -> u64 {
    Timestamp::now().as_secs()
}

/// A config with generous limits so tests hit only the limit they are about.
pub fn test_config() -> RelayConfig {
    RelayConfig {
        messages_per_second: 0,
        max_connections_per_ip: 2_000,
        max_connections: 2_000,
        ..RelayConfig::default()
    }
}
