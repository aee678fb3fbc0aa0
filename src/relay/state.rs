//! The shared relay state: store, subscriptions, connection slots and counters.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nostr::prelude::Event;
use tokio::sync::{Notify, mpsc, watch};

use super::config::RelayConfig;
use super::entry::EventEntry;
use super::filter::CompiledFilter;
use super::stats::{Counters, RelayStats, add, dec, inc};
use super::store::{Inserted, Store, StoreLimits};
use super::subscription::{ConnId, Outbound, Registry, SubscribeError, Subscription};
use super::verify::Verifier;

/// How often the maintenance task purges expired events at most. Queries purge too, so this
/// only bounds how long expired events hold memory.
const PURGE_INTERVAL_MAX: Duration = Duration::from_secs(5);

/// The relay: cheap to share (`Arc<Relay>`), one per process.
pub struct Relay {
    cfg: RelayConfig,
    inner: Mutex<Inner>,
    slots: Mutex<HashMap<IpAddr, usize>>,
    pub(crate) counters: Counters,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
    verifier: Verifier,
}

struct Inner {
    store: Store,
    registry: Registry,
}

/// Outcome of an EVENT, as the NIP-01 `OK` message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub accepted: bool,
    pub message: String,
}

impl Ack {
    fn ok() -> Self {
        Self {
            accepted: true,
            message: String::new(),
        }
    }

    fn no(message: impl Into<String>) -> Self {
        Self {
            accepted: false,
            message: message.into(),
        }
    }
}

/// Why a REQ was refused; `Display` is the `CLOSED` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReqError {
    #[error("invalid: subscription id must be 1 to 64 characters")]
    BadId,
    #[error("rate-limited: too many filters in one REQ (at most {0})")]
    TooManyFilters(usize),
    #[error(
        "rate-limited: too many open subscriptions on this connection (at most {0}); CLOSE one first"
    )]
    TooManySubscriptions(usize),
    #[error("{0}")]
    Filter(#[from] super::filter::FilterError),
    #[error("error: connection is closing")]
    Gone,
}

/// A connection's claim on a slot; releases it when dropped.
pub struct Slot {
    relay: Arc<Relay>,
    ip: IpAddr,
    pub id: ConnId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = lock(&self.relay.slots);
        if let Some(n) = slots.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.remove(&self.ip);
            }
        }
        drop(slots);
        dec(&self.relay.counters.connections);
        let removed = lock(&self.relay.inner).registry.remove_conn(self.id);
        let _ = removed;
    }
}

/// Never panic on a poisoned lock: the data is plain collections that stay consistent between
/// statements, so the last holder's panic cannot have left them half-updated in a harmful way.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Relay {
    pub fn new(cfg: RelayConfig) -> Arc<Relay> {
        let limits = StoreLimits {
            ttl: Duration::from_secs(cfg.purge_seconds),
            max_events: cfg.max_events,
            max_bytes: cfg.max_bytes,
        };
        let (shutdown, _) = watch::channel(false);
        Arc::new(Relay {
            cfg,
            inner: Mutex::new(Inner {
                store: Store::new(limits),
                registry: Registry::default(),
            }),
            slots: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            next_conn: AtomicU64::new(1),
            shutdown,
            verifier: Verifier::new(),
        })
    }

    pub fn config(&self) -> &RelayConfig {
        &self.cfg
    }

    /// Counters and gauges for `/api/status`.
    pub fn stats(&self) -> RelayStats {
        let mut s = self.counters.snapshot();
        s.enabled = self.cfg.enabled;
        let inner = lock(&self.inner);
        s.subscriptions = inner.registry.subscriptions() as u64;
        s.stored_events = inner.store.len() as u64;
        s.stored_bytes = inner.store.bytes() as u64;
        s
    }

    /// Spawn the purge timer. It ends, and every relay connection is closed ("going away"),
    /// when `shutdown` resolves.
    pub fn spawn_maintenance(
        self: &Arc<Self>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let relay = Arc::clone(self);
        let period = Duration::from_secs(self.cfg.purge_seconds.max(1)).min(PURGE_INTERVAL_MAX);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tick.tick() => relay.purge(),
                }
            }
            relay.close_all();
        });
    }

    /// Ask every connection to close (used at shutdown).
    pub fn close_all(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn purge(&self) {
        let n = lock(&self.inner).store.purge(Instant::now());
        add(&self.counters.purged, n);
    }

    /// Claim a connection slot for `ip`, or say why not (the NOTICE text).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, String> {
        let ip = ip.to_canonical();
        let mut slots = lock(&self.slots);
        let total: usize = slots.values().sum();
        if total >= self.cfg.max_connections {
            inc(&self.counters.rejected.connection_limit);
            return Err(format!(
                "rate-limited: the relay is full ({} connections)",
                self.cfg.max_connections
            ));
        }
        let n = slots.entry(ip).or_insert(0);
        if *n >= self.cfg.max_connections_per_ip {
            inc(&self.counters.rejected.connection_limit);
            return Err(format!(
                "rate-limited: too many connections from your address (at most {})",
                self.cfg.max_connections_per_ip
            ));
        }
        *n += 1;
        drop(slots);
        inc(&self.counters.connections);
        inc(&self.counters.connections_total);
        Ok(Slot {
            relay: Arc::clone(self),
            ip,
            id: self.next_conn.fetch_add(1, Relaxed),
        })
    }

    /// Register a connection's live queue.
    pub(crate) fn register(&self, id: ConnId, tx: mpsc::Sender<Outbound>, kicked: Arc<Notify>) {
        lock(&self.inner).registry.add_conn(id, tx, kicked);
    }

    /// Handle an EVENT: verify, store, fan out (the signature checked on this thread).
    pub fn publish(&self, event: &Event) -> Ack {
        inc(&self.counters.events_in);
        let ack = match self.precheck(event) {
            Err(ack) => ack,
            Ok(()) => {
                let valid = super::verify::check(event);
                self.accept(event, valid)
            }
        };
        self.count_accepted(&ack);
        ack
    }

    /// [`Relay::publish`] with the signature checked on a spare core when there is one.
    pub(crate) async fn publish_owned(&self, event: Box<Event>) -> Ack {
        inc(&self.counters.events_in);
        let ack = match self.precheck(&event) {
            Err(ack) => ack,
            Ok(()) => match self.verifier.verify(event).await {
                Some((event, valid)) => self.accept(&event, valid),
                None => Ack::no("error: could not check the signature; try again"),
            },
        };
        self.count_accepted(&ack);
        ack
    }

    fn count_accepted(&self, ack: &Ack) {
        if ack.accepted {
            inc(&self.counters.events_accepted);
        }
    }

    /// The cheap checks, before the signature: time, id, duplicate.
    fn precheck(&self, event: &Event) -> Result<(), Ack> {
        let rej = &self.counters.rejected;
        let now = crate::clock::unix_secs();
        if event.created_at.as_secs() > now.saturating_add(self.cfg.future_seconds) {
            inc(&rej.invalid);
            return Err(Ack::no(format!(
                "invalid: created_at is more than {} seconds in the future",
                self.cfg.future_seconds
            )));
        }
        if !super::id::matches(event) {
            inc(&rej.invalid);
            return Err(Ack::no(
                "invalid: event id does not match the event's content",
            ));
        }
        // A stored id with a correct hash is the same event: skip the costly signature check.
        if lock(&self.inner).store.contains(&event.id) {
            inc(&rej.duplicate);
            return Err(Ack::no("duplicate: already have this event"));
        }
        Ok(())
    }

    /// Store and fan out an event whose signature check gave `valid`.
    fn accept(&self, event: &Event, valid: bool) -> Ack {
        let rej = &self.counters.rejected;
        if !valid {
            inc(&rej.invalid);
            return Ack::no("invalid: bad signature");
        }
        let entry = match EventEntry::from_event(event) {
            Ok(e) => Arc::new(e),
            Err(_) => return Ack::no("error: could not serialize the event"),
        };
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let purged = inner.store.purge(now);
        let (inserted, evicted) = inner.store.insert(Arc::clone(&entry), now);
        let fan = match inserted {
            Inserted::Duplicate => {
                drop(inner);
                inc(&rej.duplicate);
                return Ack::no("duplicate: already have this event");
            }
            Inserted::Obsolete => {
                drop(inner);
                inc(&rej.duplicate);
                return Ack::no("duplicate: a newer version of this replaceable event is stored");
            }
            Inserted::Stored | Inserted::NotStored => inner.registry.fan_out(&entry),
        };
        drop(inner);
        add(&self.counters.purged, purged);
        add(&self.counters.evicted, evicted);
        add(&rej.slow_consumer, fan.kicked);
        if fan.kicked > 0 {
            tracing::debug!(kicked = fan.kicked, "dropped slow relay connections");
        }
        Ack::ok()
    }

    /// For the fuzz target (`fuzz/fuzz_targets/relay_frame.rs`) only: what a connection does
    /// with one client frame, without a socket: parse it, publish an EVENT, compile a REQ's or
    /// COUNT's filters and count their matches. Nothing in igloo calls it.
    #[doc(hidden)]
    pub fn fuzz_client_frame(&self, text: &str) {
        use nostr::prelude::ClientMessage;
        match ClientMessage::from_json(text) {
            Ok(ClientMessage::Event(event)) => {
                let _ = self.publish(&event);
            }
            Ok(ClientMessage::Req {
                subscription_id,
                filters,
            }) => {
                if let Ok(compiled) = self.prepare_req(subscription_id.as_str(), &filters) {
                    let _ = self.count(&compiled);
                }
            }
            Ok(ClientMessage::Count { filter, .. }) => {
                if let Ok(f) = CompiledFilter::compile(&filter) {
                    let _ = self.count(std::slice::from_ref(&f));
                }
            }
            _ => {}
        }
    }

    /// Validate a REQ's parts and compile its filters.
    pub(crate) fn prepare_req(
        &self,
        sub_id: &str,
        filters: &[std::borrow::Cow<'_, nostr::prelude::Filter>],
    ) -> Result<Vec<CompiledFilter>, ReqError> {
        let rej = &self.counters.rejected;
        if sub_id.is_empty() || sub_id.chars().count() > 64 {
            inc(&rej.invalid);
            return Err(ReqError::BadId);
        }
        if filters.len() > self.cfg.max_filters {
            inc(&rej.subscription_limit);
            return Err(ReqError::TooManyFilters(self.cfg.max_filters));
        }
        filters
            .iter()
            .map(|f| CompiledFilter::compile(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                inc(&rej.invalid);
                ReqError::from(e)
            })
    }

    /// Open (or replace) a subscription and return the stored events it matches. Query and
    /// registration happen under one lock, so no event is missed or sent twice around EOSE.
    pub(crate) fn subscribe(
        &self,
        conn: ConnId,
        sub_id: &str,
        filters: Vec<CompiledFilter>,
    ) -> Result<Vec<Arc<EventEntry>>, ReqError> {
        inc(&self.counters.reqs);
        let quoted: Arc<str> = serde_json::to_string(sub_id)
            .map_err(|_| ReqError::BadId)?
            .into();
        let mut inner = lock(&self.inner);
        let purged = inner.store.purge(Instant::now());
        let stored = inner.store.query(&filters);
        let sub = Subscription {
            quoted_id: quoted,
            filters: filters.into_boxed_slice(),
        };
        let res = inner
            .registry
            .subscribe(conn, sub_id, sub, self.cfg.max_subscriptions);
        drop(inner);
        add(&self.counters.purged, purged);
        match res {
            Ok(_) => Ok(stored),
            Err(SubscribeError::TooMany) => {
                inc(&self.counters.rejected.subscription_limit);
                Err(ReqError::TooManySubscriptions(self.cfg.max_subscriptions))
            }
            Err(SubscribeError::Gone) => Err(ReqError::Gone),
        }
    }

    pub(crate) fn unsubscribe(&self, conn: ConnId, sub_id: &str) -> bool {
        lock(&self.inner).registry.unsubscribe(conn, sub_id)
    }

    /// NIP-45 COUNT over the stored events.
    pub(crate) fn count(&self, filters: &[CompiledFilter]) -> usize {
        let mut inner = lock(&self.inner);
        let purged = inner.store.purge(Instant::now());
        let n = inner.store.count(filters);
        drop(inner);
        add(&self.counters.purged, purged);
        n
    }
}
