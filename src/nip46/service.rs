//! The NIP-46 service: one long-running task, started by the daemon, that listens for
//! kind-24133 requests addressed to the transport key on its relays and answers them with the
//! group key through the running node.
//!
//! * Works with nobody logged in: it needs only the store and the device key (when an unlock
//!   passphrase is set it waits for the unlock).
//! * Garbage never blocks it: each event is handled in its own task under a bounded
//!   semaphore (events beyond it are dropped), per-client token buckets, size caps, stale
//!   events ignored, decoding that never panics.
//! * Requests outside a session's policy wait in an in-memory approval queue (bounded, with
//!   expiry); the client gets the result, or an error on deny or expiry.
//! * Revoked clients get nothing at all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nostr::prelude::{Filter, Kind, PublicKey, Timestamp};
use rand::RngCore;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use zeroize::Zeroizing;

use super::backend::{Backend, BackendError};
use super::message::{self, Method, Request, Response};
use super::perms::{Decision, Policy, parse_perms};
use super::transport::{self, Scheme, TransportKey};
use super::uri::{self, BunkerUri, NostrConnectUri};
use crate::control::crypto::{Nip, Op};
use crate::events::{EventBus, EventKind};
use crate::frostr::transport::event::event_id;
use crate::node::pool::{self, PoolConfig, PoolHandle, RelayState};
use crate::secrets::Vault;
use crate::store::Store;
use crate::store::nip46::{HistoryEntry, Nip46StoreError, Profile, SessionRecord, SessionStatus};

/// Requests handled at once; events arriving beyond this are dropped.
const MAX_INFLIGHT: usize = 64;
/// Token bucket per client: burst and refill per second.
const BUCKET_BURST: f64 = 300.0;
const BUCKET_RATE: f64 = 50.0;
/// Requests of one client handled at once (a slow signature must not let one app hold
/// every slot).
const MAX_INFLIGHT_PER_CLIENT: usize = 8;
/// Clients tracked by the rate limiter.
const MAX_BUCKETS: usize = 4096;
/// Events older than this are ignored (relays may replay after a reconnect).
const STALE_SECS: u64 = 300;
/// Requests waiting for approval: in total, and per session.
const MAX_PENDING: usize = 64;
const MAX_PENDING_PER_SESSION: usize = 16;
/// Finished approval requests kept for `GET /api/nip46/requests`.
const MAX_FINISHED: usize = 200;
/// Most relays the service listens on.
pub const MAX_RELAYS: usize = 32;
/// Params kept in a request record (for the owner's review).
const MAX_PARAMS_PREVIEW: usize = 4096;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why an API operation failed (mapped to HTTP statuses by `http::nip46`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the device key is locked: unlock first")]
    Locked,
    #[error("store error: {0}")]
    Store(String),
}

impl From<crate::store::StoreError> for ServiceError {
    fn from(e: crate::store::StoreError) -> Self {
        ServiceError::Store(e.to_string())
    }
}

impl From<Nip46StoreError> for ServiceError {
    fn from(e: Nip46StoreError) -> Self {
        match e {
            Nip46StoreError::Revoked => ServiceError::Conflict(e.to_string()),
            Nip46StoreError::TooManySecrets => ServiceError::Conflict(e.to_string()),
            Nip46StoreError::Secrets(crate::secrets::SecretsError::Locked) => ServiceError::Locked,
            e => ServiceError::Store(e.to_string()),
        }
    }
}

/// Status of a request in the approval queue (igloo-server's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Completed,
    Failed,
    Expired,
}

impl RequestStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A request that needed (or needs) the owner, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestRecord {
    pub id: String,
    pub session_pubkey: String,
    pub method: String,
    /// The request's params as JSON text (capped for display).
    pub params: String,
    /// For `sign_event`: the event kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<u16>,
    /// For `sign_event`: the start of the event content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    pub status: RequestStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
}

struct PendingEntry {
    record: RequestRecord,
    decide: Option<oneshot::Sender<bool>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Where the service currently listens.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransportInfo {
    /// The remote-signer public key (x-only hex); not the group key.
    pub pubkey: Option<String>,
    /// Relays the service listens on.
    pub relays: Vec<String>,
    pub relay_states: Vec<RelayStateView>,
    /// Whether the service is listening and can answer (key loaded, relays configured, and an
    /// app paired or a bunker:// secret unused: otherwise it opens no connection).
    pub running: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RelayStateView {
    pub url: String,
    pub connected: bool,
}

impl From<RelayState> for RelayStateView {
    fn from(s: RelayState) -> Self {
        Self {
            url: s.url,
            connected: s.connected,
        }
    }
}

/// The service. Cheap to clone.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    store: Store,
    vault: Vault,
    events: EventBus,
    backend: Backend,
    default_relays: Vec<String>,
    /// How long a request waits for the owner (NIP46_APPROVAL_TIMEOUT).
    approval_timeout: Duration,
    /// How long a bunker:// secret stays usable (NIP46_BUNKER_SECRET_TTL).
    secret_ttl: Duration,
    key: Mutex<Option<Arc<TransportKey>>>,
    pool: Mutex<Option<(PoolHandle, Vec<String>)>>,
    reload: watch::Sender<u64>,
    pending: Mutex<HashMap<String, PendingEntry>>,
    finished: Mutex<VecDeque<RequestRecord>>,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
    inflight: Arc<Semaphore>,
    per_client: Mutex<HashMap<[u8; 32], usize>>,
    history: mpsc::Sender<(String, HistoryEntry)>,
    history_rx: Mutex<Option<mpsc::Receiver<(String, HistoryEntry)>>>,
}

/// The service's clocks, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// NIP46_APPROVAL_TIMEOUT.
    pub approval: Duration,
    /// NIP46_BUNKER_SECRET_TTL.
    pub secret_ttl: Duration,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("nip46::Service").finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `store`; `default_relays` are used until the owner sets a list;
    /// requests outside a session's permissions wait `timing.approval` for the owner, and a
    /// bunker:// secret is usable for `timing.secret_ttl`.
    pub fn new(backend: Backend, default_relays: Vec<String>, timing: Timing) -> Self {
        let (store, vault, events) = (
            backend.store().clone(),
            backend.vault().clone(),
            backend.events().clone(),
        );
        let mut defaults: Vec<String> = Vec::new();
        for r in default_relays {
            if let Ok(c) = uri::canonical_relay(&r) {
                if !defaults.contains(&c) && defaults.len() < MAX_RELAYS {
                    defaults.push(c);
                }
            }
        }
        let (history, history_rx) = mpsc::channel(1024);
        Self(Arc::new(Inner {
            store,
            vault,
            events,
            backend,
            default_relays: defaults,
            approval_timeout: timing.approval,
            secret_ttl: timing.secret_ttl,
            key: Mutex::new(None),
            pool: Mutex::new(None),
            reload: watch::channel(0).0,
            pending: Mutex::new(HashMap::new()),
            finished: Mutex::new(VecDeque::new()),
            buckets: Mutex::new(HashMap::new()),
            inflight: Arc::new(Semaphore::new(MAX_INFLIGHT)),
            per_client: Mutex::new(HashMap::new()),
            history,
            history_rx: Mutex::new(Some(history_rx)),
        }))
    }

    /// Starts the service task (and its history writer) until `shutdown` turns true.
    pub fn spawn(&self, shutdown: watch::Receiver<bool>) {
        let me = self.clone();
        tokio::spawn(me.run(shutdown.clone()));
        if let Some(rx) = lock(&self.0.history_rx).take() {
            tokio::spawn(history_writer(self.0.store.clone(), rx, shutdown));
        }
    }

    // ---------------------------------------------------------------- transport key, relays

    /// The transport key, loaded or created (sealed) on first use. None while the vault is
    /// locked.
    fn key(&self) -> Result<Arc<TransportKey>, ServiceError> {
        if let Some(k) = lock(&self.0.key).as_ref() {
            return Ok(k.clone());
        }
        let store = &self.0.store;
        let key = match store.nip46_transport_key(&self.0.vault)? {
            Some(bytes) => TransportKey::from_bytes(&bytes)
                .map_err(|_| ServiceError::Store("the stored transport key is damaged".into()))?,
            None => {
                let k = TransportKey::generate();
                if !store
                    .put_nip46_transport_key_if_absent(&self.0.vault, k.to_bytes().as_slice())?
                {
                    // Another caller stored one first: use that.
                    return self.key();
                }
                k
            }
        };
        let key = Arc::new(key);
        *lock(&self.0.key) = Some(key.clone());
        Ok(key)
    }

    /// The transport public key (hex), loading or creating the key.
    pub fn transport_pubkey(&self) -> Result<String, ServiceError> {
        Ok(hex::encode(self.key()?.pubkey()))
    }

    /// The NIP-46 relay list: the owner's, or the default (the node's relays and the built-in).
    pub fn relays(&self) -> Vec<String> {
        match self.0.store.nip46_relays() {
            Ok(Some(r)) if !r.is_empty() => r,
            _ => self.0.default_relays.clone(),
        }
    }

    /// Sets the relay list (`None` or empty: back to the default) and reconnects.
    pub fn set_relays(&self, relays: Option<Vec<String>>) -> Result<Vec<String>, ServiceError> {
        let list = match relays {
            None => None,
            Some(r) if r.is_empty() => None,
            Some(r) => {
                let mut out: Vec<String> = Vec::new();
                for u in r {
                    let c = uri::canonical_relay(&u)
                        .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
                if out.len() > MAX_RELAYS {
                    return Err(ServiceError::BadRequest(format!(
                        "at most {MAX_RELAYS} relays"
                    )));
                }
                Some(out)
            }
        };
        self.0.store.set_nip46_relays(list.as_deref())?;
        self.reload();
        Ok(self.relays())
    }

    /// Relays listened on: the list plus the relays of active sessions (their apps' relays).
    fn pool_urls(&self) -> Vec<String> {
        let mut urls = self.relays();
        if let Ok(sessions) = self.0.store.nip46_sessions() {
            for s in sessions
                .iter()
                .filter(|s| s.status == SessionStatus::Active)
            {
                for r in &s.relays {
                    if urls.len() >= MAX_RELAYS {
                        break;
                    }
                    if !urls.contains(r) {
                        urls.push(r.clone());
                    }
                }
            }
        }
        urls
    }

    fn reload(&self) {
        self.0.reload.send_modify(|g| *g += 1);
    }

    /// Whether the service has anyone to listen for: an active session (always, also after a
    /// reboot with nobody logged in), or only unused `bunker://` secrets (until they expire),
    /// or nobody (a fresh install then opens no relay connection at all).
    fn demand(&self) -> Demand {
        let store = &self.0.store;
        match store.nip46_sessions() {
            Ok(s) if s.iter().any(|s| s.status == SessionStatus::Active) => {
                return Demand::Always;
            }
            Ok(_) => {}
            // Unreadable store: listen rather than go deaf to paired apps.
            Err(_) => return Demand::Always,
        }
        match store.nip46_secrets_valid_until(now_secs()) {
            Ok(Some(t)) => Demand::Until(t),
            Ok(None) => Demand::Idle,
            Err(_) => Demand::Always,
        }
    }

    /// Starts listening if the service is idle (a secret or session just appeared), and
    /// waits up to `within` until a relay is connected; true once one is.
    pub async fn listen_now(&self, within: Duration) -> bool {
        if lock(&self.0.pool).is_none() {
            self.reload();
        }
        let deadline = Instant::now() + within;
        loop {
            let up = lock(&self.0.pool)
                .as_ref()
                .is_some_and(|(h, _)| h.connected_count() > 0);
            if up || Instant::now() > deadline {
                return up;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn transport_info(&self) -> TransportInfo {
        let pubkey = self.key().ok().map(|k| hex::encode(k.pubkey()));
        let pool = lock(&self.0.pool);
        let (relays, states) = match pool.as_ref() {
            Some((h, urls)) => (
                urls.clone(),
                h.states().into_iter().map(RelayStateView::from).collect(),
            ),
            None => (self.relays(), Vec::new()),
        };
        TransportInfo {
            running: pubkey.is_some() && pool.is_some(),
            pubkey,
            relays,
            relay_states: states,
        }
    }

    // ---------------------------------------------------------------- the task

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut reload = self.0.reload.subscribe();
        loop {
            // The key: wait while the vault is locked (passphrase not yet given).
            let key = loop {
                match self.key() {
                    Ok(k) => break k,
                    Err(ServiceError::Locked) => {}
                    Err(e) => tracing::warn!(error = %e, "NIP-46: no transport key"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            };
            // Marked before reading the store: a change made while we read wakes us again.
            reload.mark_unchanged();
            let urls = self.pool_urls();
            let demand = self.demand();
            if urls.is_empty() || demand == Demand::Idle {
                tokio::select! {
                    _ = reload.changed() => continue,
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            // Listening only for unused bunker secrets: re-check once the last one expires.
            let mut demand = demand;
            let idle = tokio::time::sleep(demand.recheck_in());
            tokio::pin!(idle);
            let own = key.pubkey();
            let mut filter = Filter::new()
                .kind(Kind::from(transport::KIND))
                .since(Timestamp::from(now_secs().saturating_sub(60)));
            if let Ok(pk) = PublicKey::from_slice(&own) {
                filter = filter.pubkey(pk);
            }
            let (stop_tx, stop_rx) = watch::channel(false);
            let (handle, mut rx) = pool::start(
                PoolConfig::new(urls.clone(), filter),
                pool::default_tls(),
                stop_rx,
            );
            tracing::info!(relays = ?urls, pubkey = %hex::encode(own), "NIP-46 signer listening");
            *lock(&self.0.pool) = Some((handle, urls));
            let stop = loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => self.dispatch(ev, key.clone()),
                        None => break false,
                    },
                    r = reload.changed() => {
                        if r.is_err() { break true; }
                        break false;
                    }
                    _ = &mut idle, if demand != Demand::Always => {
                        // A secret used meanwhile made a session: keep the connections.
                        demand = self.demand();
                        if demand == Demand::Idle {
                            break false;
                        }
                        idle.as_mut().reset(tokio::time::Instant::now() + demand.recheck_in());
                    }
                    _ = shutdown.wait_for(|s| *s) => break true,
                }
            };
            let _ = stop_tx.send(true);
            *lock(&self.0.pool) = None;
            if stop || *shutdown.borrow() {
                return;
            }
        }
    }

    /// Hands one event to a task, or drops it when too many are in flight.
    fn dispatch(&self, ev: nostr::prelude::Event, key: Arc<TransportKey>) {
        let Ok(permit) = self.0.inflight.clone().try_acquire_owned() else {
            tracing::debug!("NIP-46: busy, event dropped");
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            me.handle_event(ev, key).await;
            drop(permit);
        });
    }

    fn allow(&self, client: &[u8; 32]) -> bool {
        let mut b = lock(&self.0.buckets);
        let now = Instant::now();
        if b.len() >= MAX_BUCKETS && !b.contains_key(client) {
            b.retain(|_, v| {
                v.tokens + now.duration_since(v.at).as_secs_f64() * BUCKET_RATE < BUCKET_BURST
            });
            if b.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let e = b.entry(*client).or_insert(Bucket {
            tokens: BUCKET_BURST,
            at: now,
        });
        e.tokens =
            (e.tokens + now.duration_since(e.at).as_secs_f64() * BUCKET_RATE).min(BUCKET_BURST);
        e.at = now;
        if e.tokens >= 1.0 {
            e.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn handle_event(&self, ev: nostr::prelude::Event, key: Arc<TransportKey>) {
        let own = key.pubkey();
        let Ok(client) = transport::check_incoming(&ev, &own) else {
            return;
        };
        if ev.created_at.as_secs() + STALE_SECS < now_secs() {
            return;
        }
        if !self.allow(&client) {
            tracing::debug!(client = %hex::encode(client), "NIP-46: rate limited");
            return;
        }
        let Some(_slot) = ClientSlot::take(self, client) else {
            tracing::debug!(client = %hex::encode(client), "NIP-46: too many requests in flight");
            return;
        };
        let client_hex = hex::encode(client);
        let session = match self.0.store.nip46_session(&client_hex) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "NIP-46: store read failed");
                return;
            }
        };
        // Revoked: nothing at all, not even an error.
        if session
            .as_ref()
            .is_some_and(|s| s.status == SessionStatus::Revoked)
        {
            return;
        }
        let Ok(shared) = key.shared_x(&client) else {
            return;
        };
        let Ok((scheme, text)) = transport::decrypt(&shared, &ev.content) else {
            return;
        };
        let req = match message::parse_request(&text) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "NIP-46: undecodable request");
                return;
            }
        };
        let reply = Replier {
            key,
            client,
            shared,
            scheme,
            service: self.clone(),
        };
        let Some(session) = session else {
            let resp = match req.method {
                Method::Connect => {
                    // A store write (fsync): off the async workers.
                    let (me, c, r) = (self.clone(), client_hex.clone(), req.clone());
                    tokio::task::spawn_blocking(move || me.connect_with_secret(&c, &own, &r))
                        .await
                        .unwrap_or_else(|_| Response::err(&req.id, "connect failed"))
                }
                _ => Response::err(
                    &req.id,
                    "not connected: pair this app with a bunker:// URI from igloo first",
                ),
            };
            reply.send(&resp);
            return;
        };
        if let Method::Other(m) = &req.method {
            let resp = Response::err(&req.id, format!("unsupported method: {}", truncate(m, 32)));
            reply.send(&resp);
            return;
        }
        let kind = match req.method {
            Method::SignEvent => message::parse_unsigned_event(&req.params)
                .ok()
                .map(|e| e.kind),
            _ => None,
        };
        match session.policy.decide(req.method.as_str(), kind) {
            Decision::Allow => {
                let resp = self.execute(&req, &own).await;
                self.record(&client_hex, &req, kind, &resp, "ok");
                reply.send(&resp);
            }
            Decision::Ask => self.enqueue(session, req, kind, reply),
        }
    }

    /// `connect` from a client without a session: needs an unused bunker secret.
    fn connect_with_secret(&self, client_hex: &str, own: &[u8; 32], req: &Request) -> Response {
        if let Some(target) = req.params.first().filter(|t| !t.is_empty()) {
            let group = self.0.backend.group_pubkey().map(hex::encode);
            let t = target.to_ascii_lowercase();
            if t != hex::encode(own) && Some(&t) != group.as_ref() {
                return Response::err(&req.id, "connect names another signer");
            }
        }
        let secret = Zeroizing::new(req.params.get(1).cloned().unwrap_or_default());
        if secret.is_empty() {
            return Response::err(
                &req.id,
                "a connection secret is required: use a fresh bunker:// URI from igloo",
            );
        }
        let perms = req
            .params
            .get(2)
            .and_then(|p| parse_perms(p).ok())
            .unwrap_or_default();
        let profile = req
            .params
            .get(3)
            .and_then(|m| profile_from_json(m))
            .unwrap_or_default();
        let now = now_secs();
        let rec = SessionRecord {
            pubkey: client_hex.to_owned(),
            status: SessionStatus::Active,
            profile,
            relays: Vec::new(),
            policy: Policy::from_perms(&perms),
            created_at: now,
            updated_at: now,
            last_active_at: Some(now),
        };
        match self.0.store.consume_nip46_secret(&secret, now, &rec) {
            Ok(true) => {
                self.0.events.emit(
                    EventKind::Nip46,
                    format!("NIP-46: app {} connected", short(client_hex)),
                    Some(serde_json::json!({"event": "session", "pubkey": client_hex, "status": "active"})),
                );
                self.record_entry(client_hex, "connect", None, "ok", None);
                Response::ok(&req.id, "ack")
            }
            Ok(false) => Response::err(&req.id, "invalid, expired or already used secret"),
            Err(e) => {
                tracing::warn!(error = %e, "NIP-46: connect failed");
                Response::err(&req.id, "connect failed")
            }
        }
    }

    /// Runs an allowed (or approved) request.
    async fn execute(&self, req: &Request, own: &[u8; 32]) -> Response {
        let id = &req.id;
        let backend = &self.0.backend;
        match &req.method {
            Method::Connect => Response::ok(id, "ack"),
            Method::Ping => Response::ok(id, "pong"),
            Method::GetPublicKey => match backend.group_pubkey() {
                Some(pk) => Response::ok(id, hex::encode(pk)),
                None => Response::err(id, BackendError::Unavailable.to_string()),
            },
            Method::GetRelays => {
                let map: serde_json::Map<String, serde_json::Value> = self
                    .current_urls()
                    .into_iter()
                    .map(|u| (u, serde_json::json!({"read": true, "write": true})))
                    .collect();
                Response::ok(id, serde_json::Value::Object(map).to_string())
            }
            Method::SwitchRelays => Response::ok(
                id,
                serde_json::to_string(&self.relays()).unwrap_or_else(|_| "null".into()),
            ),
            Method::SignEvent => match self.sign_event(req).await {
                Ok(s) => Response::ok(id, s),
                Err(e) => Response::err(id, e),
            },
            Method::Nip04Encrypt
            | Method::Nip04Decrypt
            | Method::Nip44Encrypt
            | Method::Nip44Decrypt => match self.cipher(req).await {
                Ok(s) => Response::ok(id, s),
                Err(e) => Response::err(id, e),
            },
            Method::Other(m) => {
                let _ = own;
                Response::err(id, format!("unsupported method: {}", truncate(m, 32)))
            }
        }
    }

    fn current_urls(&self) -> Vec<String> {
        match lock(&self.0.pool).as_ref() {
            Some((_, urls)) => urls.clone(),
            None => self.relays(),
        }
    }

    async fn sign_event(&self, req: &Request) -> Result<String, String> {
        let ev = message::parse_unsigned_event(&req.params).map_err(|e| e.to_string())?;
        let group = self
            .0
            .backend
            .group_pubkey()
            .ok_or_else(|| BackendError::Unavailable.to_string())?;
        let group_hex = hex::encode(group);
        if let Some(pk) = ev.pubkey.as_deref().filter(|p| !p.is_empty()) {
            if !pk.eq_ignore_ascii_case(&group_hex) {
                return Err("event.pubkey is not the key this signer signs for".into());
            }
        }
        let id = event_id(&group_hex, ev.created_at, ev.kind, &ev.tags, &ev.content);
        let sig = self.0.backend.sign(id).await.map_err(|e| e.to_string())?;
        let signed = serde_json::json!({
            "id": hex::encode(id),
            "pubkey": group_hex,
            "created_at": ev.created_at,
            "kind": ev.kind,
            "tags": ev.tags,
            "content": ev.content,
            "sig": hex::encode(sig),
        });
        Ok(signed.to_string())
    }

    async fn cipher(&self, req: &Request) -> Result<String, String> {
        let (peer, text) = message::parse_cipher_params(&req.params).map_err(|e| e.to_string())?;
        let (nip, op) = match req.method {
            Method::Nip04Encrypt => (Nip::Nip04, Op::Encrypt),
            Method::Nip04Decrypt => (Nip::Nip04, Op::Decrypt),
            Method::Nip44Encrypt => (Nip::Nip44, Op::Encrypt),
            _ => (Nip::Nip44, Op::Decrypt),
        };
        self.0
            .backend
            .crypto(nip, op, &peer, text)
            .await
            .map_err(|e| e.to_string())
    }

    // ---------------------------------------------------------------- approvals

    fn enqueue(&self, session: SessionRecord, req: Request, kind: Option<u16>, reply: Replier) {
        let client_hex = session.pubkey.clone();
        let (tx, rx) = oneshot::channel();
        let now = now_secs();
        let preview = match req.method {
            Method::SignEvent => message::parse_unsigned_event(&req.params)
                .ok()
                .map(|e| truncate(&e.content, 280)),
            _ => None,
        };
        let record = RequestRecord {
            id: uuid::Uuid::new_v4().to_string(),
            session_pubkey: client_hex.clone(),
            method: req.method.as_str().to_owned(),
            params: truncate(
                &serde_json::to_string(&req.params).unwrap_or_default(),
                MAX_PARAMS_PREVIEW,
            ),
            kind,
            preview,
            status: RequestStatus::Pending,
            error: None,
            created_at: iso(now),
            updated_at: iso(now),
            expires_at: iso(now + self.approval_timeout_secs()),
        };
        {
            let mut p = lock(&self.0.pending);
            let mine = p
                .values()
                .filter(|e| e.record.session_pubkey == client_hex)
                .count();
            if p.len() >= MAX_PENDING || mine >= MAX_PENDING_PER_SESSION {
                drop(p);
                reply.send(&Response::err(
                    &req.id,
                    "too many requests are waiting for approval",
                ));
                return;
            }
            p.insert(
                record.id.clone(),
                PendingEntry {
                    record: record.clone(),
                    decide: Some(tx),
                },
            );
        }
        self.0.events.emit(
            EventKind::Nip46,
            format!(
                "NIP-46: {} from app {} waits for approval",
                record.method,
                short(&client_hex)
            ),
            Some(serde_json::json!({"event": "request", "request": record})),
        );
        let me = self.clone();
        tokio::spawn(async move {
            let decision = tokio::time::timeout(me.0.approval_timeout, rx).await;
            let (status, resp) = match decision {
                Ok(Ok(true)) => {
                    // Revoked while waiting: nothing.
                    if me.is_revoked(&client_hex) {
                        me.finish(&record.id, RequestStatus::Denied, None);
                        return;
                    }
                    let own = reply.key.pubkey();
                    let resp = me.execute(&req, &own).await;
                    let status = if resp.error.is_some() {
                        RequestStatus::Failed
                    } else {
                        RequestStatus::Completed
                    };
                    (status, resp)
                }
                Ok(Ok(false)) => (
                    RequestStatus::Denied,
                    Response::err(&req.id, "denied by the signer's owner"),
                ),
                // Dropped sender (session revoked) or timeout.
                Ok(Err(_)) => {
                    me.finish(&record.id, RequestStatus::Denied, None);
                    return;
                }
                Err(_) => (
                    RequestStatus::Expired,
                    Response::err(&req.id, "the approval request expired"),
                ),
            };
            me.finish(&record.id, status, resp.error.clone());
            let outcome = match status {
                RequestStatus::Completed => "approved",
                RequestStatus::Denied => "denied",
                RequestStatus::Expired => "expired",
                _ => "error",
            };
            me.record(&client_hex, &req, kind, &resp, outcome);
            if !me.is_revoked(&client_hex) {
                reply.send(&resp);
            }
        });
    }

    /// The approval timeout in whole seconds, rounded up (for `expires_at`).
    fn approval_timeout_secs(&self) -> u64 {
        u64::try_from(self.0.approval_timeout.as_millis().div_ceil(1000)).unwrap_or(u64::MAX)
    }

    fn is_revoked(&self, client_hex: &str) -> bool {
        !matches!(
            self.0.store.nip46_session(client_hex),
            Ok(Some(SessionRecord {
                status: SessionStatus::Active,
                ..
            }))
        )
    }

    fn finish(&self, id: &str, status: RequestStatus, error: Option<String>) {
        let Some(mut entry) = lock(&self.0.pending).remove(id) else {
            return;
        };
        entry.record.status = status;
        entry.record.error = error;
        entry.record.updated_at = iso(now_secs());
        self.0.events.emit(
            EventKind::Nip46,
            format!("NIP-46: request {} {:?}", entry.record.method, status).to_lowercase(),
            Some(serde_json::json!({"event": "request", "request": entry.record})),
        );
        let mut f = lock(&self.0.finished);
        f.push_front(entry.record);
        f.truncate(MAX_FINISHED);
    }

    /// Requests, newest first, optionally only those with one of `statuses`.
    pub fn requests(&self, statuses: Option<&[RequestStatus]>, limit: usize) -> Vec<RequestRecord> {
        let mut out: Vec<RequestRecord> = lock(&self.0.pending)
            .values()
            .map(|e| e.record.clone())
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        out.extend(lock(&self.0.finished).iter().cloned());
        out.retain(|r| statuses.is_none_or(|s| s.contains(&r.status)));
        out.truncate(limit);
        out
    }

    /// Approves or denies a pending request; `grant` is merged into the session's policy first
    /// ("always allow").
    pub fn decide(
        &self,
        id: &str,
        approve: bool,
        grant: Option<&Policy>,
    ) -> Result<RequestRecord, ServiceError> {
        let session = {
            let p = lock(&self.0.pending);
            match p.get(id) {
                Some(e) => e.record.session_pubkey.clone(),
                None => return Err(self.not_pending(id)),
            }
        };
        if let (Some(patch), true) = (grant, approve) {
            self.update_policy(&session, patch)?;
        }
        let mut p = lock(&self.0.pending);
        let e = p
            .get_mut(id)
            .ok_or(ServiceError::NotFound("no pending request with this id"))?;
        let tx = e
            .decide
            .take()
            .ok_or_else(|| ServiceError::Conflict("the request is already decided".into()))?;
        let _ = tx.send(approve);
        e.record.status = if approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Denied
        };
        e.record.updated_at = iso(now_secs());
        Ok(e.record.clone())
    }

    /// Why `id` cannot be decided: it expired (the owner should know the app was told so),
    /// or it is unknown or already decided.
    fn not_pending(&self, id: &str) -> ServiceError {
        let expired = lock(&self.0.finished)
            .iter()
            .any(|r| r.id == id && r.status == RequestStatus::Expired);
        ServiceError::NotFound(if expired {
            "the request expired; the app was told so"
        } else {
            "no pending request with this id"
        })
    }

    // ---------------------------------------------------------------- sessions

    pub fn sessions(&self, include_revoked: bool) -> Result<Vec<SessionRecord>, ServiceError> {
        let mut s = self.0.store.nip46_sessions()?;
        s.retain(|r| include_revoked || r.status == SessionStatus::Active);
        s.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(s)
    }

    pub fn history(&self, pubkey: &str) -> Result<Vec<HistoryEntry>, ServiceError> {
        Ok(self.0.store.nip46_history(pubkey)?)
    }

    /// Creates (or updates) an active session by hand.
    pub fn create_session(
        &self,
        pubkey: &str,
        profile: Profile,
        relays: Vec<String>,
        policy: Policy,
    ) -> Result<SessionRecord, ServiceError> {
        let pk = uri::parse_pubkey_hex(pubkey)
            .ok_or_else(|| ServiceError::BadRequest("pubkey must be 64 hex characters".into()))?;
        policy
            .validate()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let relays = canonical_relays(relays, 16)?;
        let pk = hex::encode(pk);
        let now = now_secs();
        let existing = self.0.store.nip46_session(&pk)?;
        let rec = SessionRecord {
            pubkey: pk.clone(),
            status: SessionStatus::Active,
            profile,
            relays,
            policy,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
            last_active_at: existing.and_then(|e| e.last_active_at),
        };
        self.0.store.put_nip46_session(&rec)?;
        self.session_changed(&rec);
        self.reload_if_new_relays(&rec.relays);
        Ok(rec)
    }

    pub fn update_policy(
        &self,
        pubkey: &str,
        patch: &Policy,
    ) -> Result<SessionRecord, ServiceError> {
        let pk = norm_pk(pubkey)?;
        let mut rec = self
            .0
            .store
            .nip46_session(&pk)?
            .ok_or(ServiceError::NotFound("no session for this pubkey"))?;
        if rec.status == SessionStatus::Revoked {
            return Err(ServiceError::Conflict("the session is revoked".into()));
        }
        rec.policy.apply(patch);
        rec.policy
            .validate()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        rec.updated_at = now_secs();
        self.0.store.put_nip46_session(&rec)?;
        self.session_changed(&rec);
        Ok(rec)
    }

    /// Revokes a session for good: its pending requests are dropped without an answer.
    pub fn revoke(&self, pubkey: &str) -> Result<bool, ServiceError> {
        let pk = norm_pk(pubkey)?;
        let Some(mut rec) = self.0.store.nip46_session(&pk)? else {
            return Ok(false);
        };
        if rec.status != SessionStatus::Revoked {
            rec.status = SessionStatus::Revoked;
            rec.updated_at = now_secs();
            self.0.store.put_nip46_session(&rec)?;
        }
        let ids: Vec<String> = lock(&self.0.pending)
            .iter()
            .filter(|(_, e)| e.record.session_pubkey == pk)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            // Dropping the sender ends the waiting task without a reply.
            if let Some(e) = lock(&self.0.pending).get_mut(&id) {
                e.decide.take();
            }
        }
        self.session_changed(&rec);
        // Its relays are no longer needed, or nobody is left to listen for.
        if !rec.relays.is_empty() || self.demand() == Demand::Idle {
            self.reload();
        }
        Ok(true)
    }

    /// Sets the status: `active` (not from revoked) or `revoked`.
    pub fn set_status(&self, pubkey: &str, status: SessionStatus) -> Result<bool, ServiceError> {
        match status {
            SessionStatus::Revoked => self.revoke(pubkey),
            SessionStatus::Active => {
                let pk = norm_pk(pubkey)?;
                let mut rec = self
                    .0
                    .store
                    .nip46_session(&pk)?
                    .ok_or(ServiceError::NotFound("no session for this pubkey"))?;
                if rec.status == SessionStatus::Revoked {
                    return Err(ServiceError::Conflict(
                        "the session is revoked; revocation is final".into(),
                    ));
                }
                rec.updated_at = now_secs();
                self.0.store.put_nip46_session(&rec)?;
                Ok(true)
            }
        }
    }

    fn session_changed(&self, rec: &SessionRecord) {
        self.0.events.emit(
            EventKind::Nip46,
            format!(
                "NIP-46: session {} is {}",
                short(&rec.pubkey),
                match rec.status {
                    SessionStatus::Active => "active",
                    SessionStatus::Revoked => "revoked",
                }
            ),
            Some(
                serde_json::json!({"event": "session", "pubkey": rec.pubkey, "status": rec.status}),
            ),
        );
    }

    /// After a session appeared: listen if idle, reconnect if it brings relays not listened on.
    fn reload_if_new_relays(&self, relays: &[String]) {
        let current = match lock(&self.0.pool).as_ref() {
            Some((_, urls)) => urls.clone(),
            None => Vec::new(),
        };
        if current.is_empty() || relays.iter().any(|r| !current.contains(r)) {
            self.reload();
        }
    }

    /// A fresh single-use `bunker://` URI.
    pub fn new_bunker_uri(&self) -> Result<(Zeroizing<String>, u64), ServiceError> {
        let key = self.key()?;
        let relays = self.relays();
        if relays.is_empty() {
            return Err(ServiceError::Conflict(
                "no NIP-46 relays are configured".into(),
            ));
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(raw.as_mut());
        let secret = Zeroizing::new(hex::encode(raw.as_ref()));
        let now = now_secs();
        let ttl = self.0.secret_ttl.as_millis().div_ceil(1000);
        let expires = now + u64::try_from(ttl).unwrap_or(u64::MAX / 2);
        self.0.store.add_nip46_secret(&secret, expires, now)?;
        let uri = BunkerUri {
            signer_pubkey: key.pubkey(),
            relays,
            secret: Some(secret),
        };
        Ok((uri.to_uri(), expires))
    }

    /// The client-initiated flow: pair with a `nostrconnect://` URI and send the connect
    /// response (the client's secret) on its relays.
    pub async fn connect_uri(&self, raw: &str) -> Result<SessionRecord, ServiceError> {
        let u = NostrConnectUri::parse(raw).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let key = self.key()?;
        let pk = hex::encode(u.client_pubkey);
        let perms = parse_perms(&u.perms.join(",")).unwrap_or_default();
        let now = now_secs();
        let existing = self.0.store.nip46_session(&pk)?;
        let rec = SessionRecord {
            pubkey: pk.clone(),
            status: SessionStatus::Active,
            profile: Profile {
                name: u.name.clone(),
                url: u.url.clone(),
                image: u.image.clone(),
            },
            relays: u.relays.clone(),
            policy: Policy::from_perms(&perms),
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
            last_active_at: Some(now),
        };
        self.0.store.put_nip46_session(&rec)?;
        self.session_changed(&rec);
        self.reload_if_new_relays(&u.relays);
        // Wait (briefly) until the pool is connected to one of the app's relays.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = lock(&self.0.pool).as_ref().is_some_and(|(h, urls)| {
                u.relays.iter().all(|r| urls.contains(r))
                    && h.states()
                        .iter()
                        .any(|s| s.connected && u.relays.contains(&s.url))
            });
            if ready || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let shared = key
            .shared_x(&u.client_pubkey)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        // The app's secret proves the answer comes from whoever it showed the URI to; an app
        // of the older revision (no secret) expects "ack".
        let resp = Response::ok(
            &hex::encode(id),
            u.secret.as_ref().map_or("ack", |s| s.as_str()),
        );
        let reply = Replier {
            key,
            client: u.client_pubkey,
            shared,
            scheme: Scheme::Nip44,
            service: self.clone(),
        };
        if !reply.send(&resp) {
            return Err(ServiceError::Conflict(
                "could not reach the app's relays; try again".into(),
            ));
        }
        // Once more a little later: the app may have been reconnecting to its relay (the
        // events are ephemeral, a relay does not keep them). Apps take the first one.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            reply.send(&resp);
        });
        self.record_entry(&pk, "connect", None, "ok", Some("nostrconnect".into()));
        Ok(rec)
    }

    // ---------------------------------------------------------------- history

    fn record(
        &self,
        client_hex: &str,
        req: &Request,
        kind: Option<u16>,
        resp: &Response,
        outcome: &str,
    ) {
        let outcome = if resp.error.is_some() && outcome == "ok" {
            "error"
        } else {
            outcome
        };
        self.record_entry(
            client_hex,
            req.method.as_str(),
            kind,
            outcome,
            resp.error.as_deref().map(|e| truncate(e, 200)),
        );
    }

    fn record_entry(
        &self,
        client_hex: &str,
        method: &str,
        kind: Option<u16>,
        outcome: &str,
        detail: Option<String>,
    ) {
        let entry = HistoryEntry {
            at: now_secs(),
            method: truncate(method, 32),
            kind,
            outcome: outcome.to_owned(),
            detail,
        };
        let _ = self.0.history.try_send((client_hex.to_owned(), entry));
    }
}

/// Whom the service listens for (see [`Service::demand`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Demand {
    Always,
    /// Unused bunker secrets only, the last valid until this Unix time.
    Until(u64),
    Idle,
}

impl Demand {
    /// When to look again whether anyone is left to listen for.
    fn recheck_in(self) -> Duration {
        match self {
            Demand::Until(t) => Duration::from_secs(t.saturating_sub(now_secs()) + 1),
            // Never, in effect (a far deadline that cannot overflow an Instant).
            _ => Duration::from_secs(86_400 * 365),
        }
    }
}

/// One of a client's [`MAX_INFLIGHT_PER_CLIENT`] slots; freed on drop.
struct ClientSlot {
    service: Service,
    client: [u8; 32],
}

impl ClientSlot {
    fn take(service: &Service, client: [u8; 32]) -> Option<Self> {
        let mut m = lock(&service.0.per_client);
        let n = m.entry(client).or_insert(0);
        if *n >= MAX_INFLIGHT_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(Self {
            service: service.clone(),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = lock(&self.service.0.per_client);
        if let Some(n) = m.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

/// Sends one response to a client, in the scheme it used.
struct Replier {
    key: Arc<TransportKey>,
    client: [u8; 32],
    shared: Zeroizing<[u8; 32]>,
    scheme: Scheme,
    service: Service,
}

impl Replier {
    fn send(&self, resp: &Response) -> bool {
        let Ok(content) = transport::encrypt(&self.shared, self.scheme, &resp.to_json()) else {
            tracing::warn!("NIP-46: response could not be encrypted");
            return false;
        };
        let Ok(ev) = self.key.event(&self.client, content, now_secs()) else {
            return false;
        };
        match lock(&self.service.0.pool).as_ref() {
            Some((h, _)) => h.publish(&ev) > 0,
            None => false,
        }
    }
}

/// Writes history in batches (one commit per client per batch), off the request path; at
/// shutdown it writes what is queued and ends (so the store can close).
async fn history_writer(
    store: Store,
    mut rx: mpsc::Receiver<(String, HistoryEntry)>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let mut batch: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
        let stop = tokio::select! {
            first = rx.recv() => match first {
                Some((k, e)) => {
                    batch.entry(k).or_default().push(e);
                    false
                }
                None => true,
            },
            _ = shutdown.wait_for(|s| *s) => true,
        };
        while let Ok((k, e)) = rx.try_recv() {
            batch.entry(k).or_default().push(e);
        }
        let store = store.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let now = now_secs();
            for (pk, entries) in batch {
                if let Err(e) = store.append_nip46_history(&pk, &entries, now) {
                    tracing::warn!(error = %e, "NIP-46: history not saved");
                }
            }
        })
        .await;
        if stop {
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn short(pk: &str) -> &str {
    pk.get(..12).unwrap_or(pk)
}

fn iso(secs: u64) -> String {
    crate::timefmt::iso8601(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

fn norm_pk(pubkey: &str) -> Result<String, ServiceError> {
    uri::parse_pubkey_hex(pubkey.trim())
        .map(hex::encode)
        .ok_or_else(|| ServiceError::BadRequest("pubkey must be 64 hex characters".into()))
}

fn canonical_relays(relays: Vec<String>, max: usize) -> Result<Vec<String>, ServiceError> {
    let mut out: Vec<String> = Vec::new();
    for r in relays {
        let c = uri::canonical_relay(&r).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.len() > max {
        return Err(ServiceError::BadRequest(format!("at most {max} relays")));
    }
    Ok(out)
}

/// `{name, url, image}` from nostr-tools' connect metadata (params[3]).
fn profile_from_json(m: &str) -> Option<Profile> {
    if m.len() > 4096 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(m).ok()?;
    let get = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::trim)
            .filter(|x| !x.is_empty() && x.len() <= uri::MAX_META_LEN)
            .filter(|x| !x.chars().any(char::is_control))
            .map(str::to_owned)
    };
    Some(Profile {
        name: get("name"),
        url: get("url"),
        image: get("image"),
    })
}
