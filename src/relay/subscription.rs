//! Open subscriptions of every connection, and live fan-out to them.
//!
//! Fan-out never waits: each connection has a bounded queue and is fed with `try_send`. A
//! connection whose queue is full is dropped from the registry and told (through its `kicked`
//! signal) to disconnect, so a client that stops reading costs others nothing and its memory
//! stays bounded by its queue.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use super::entry::EventEntry;
use super::filter::{CompiledFilter, any_match};

pub type ConnId = u64;

/// A live event for one subscription of one connection.
#[derive(Debug)]
pub struct Outbound {
    /// The subscription id, already JSON-quoted, so a frame is two string copies.
    pub sub: Arc<str>,
    pub entry: Arc<EventEntry>,
}

#[derive(Debug)]
pub struct Subscription {
    pub quoted_id: Arc<str>,
    pub filters: Box<[CompiledFilter]>,
}

struct Conn {
    tx: mpsc::Sender<Outbound>,
    kicked: Arc<Notify>,
    subs: HashMap<String, Subscription>,
}

/// Refused subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeError {
    /// The connection already has the maximum number of subscriptions.
    TooMany,
    /// The connection is gone (kicked as too slow).
    Gone,
}

/// Result of one fan-out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Messages queued.
    pub queued: usize,
    /// Connections dropped because their queue was full.
    pub kicked: usize,
    /// Subscriptions removed with them.
    pub subs_removed: usize,
}

#[derive(Default)]
pub struct Registry {
    conns: HashMap<ConnId, Conn>,
    subs: usize,
}

impl Registry {
    pub fn subscriptions(&self) -> usize {
        self.subs
    }

    pub fn add_conn(&mut self, id: ConnId, tx: mpsc::Sender<Outbound>, kicked: Arc<Notify>) {
        self.conns.insert(
            id,
            Conn {
                tx,
                kicked,
                subs: HashMap::new(),
            },
        );
    }

    /// Forget a connection; returns how many subscriptions it had.
    pub fn remove_conn(&mut self, id: ConnId) -> usize {
        let n = self.conns.remove(&id).map_or(0, |c| c.subs.len());
        self.subs -= n;
        n
    }

    /// Open (or replace, if the id is reused) a subscription. Returns true if it replaced one.
    pub fn subscribe(
        &mut self,
        conn: ConnId,
        id: &str,
        sub: Subscription,
        max: usize,
    ) -> Result<bool, SubscribeError> {
        let c = self.conns.get_mut(&conn).ok_or(SubscribeError::Gone)?;
        let replacing = c.subs.contains_key(id);
        if !replacing && c.subs.len() >= max {
            return Err(SubscribeError::TooMany);
        }
        c.subs.insert(id.to_owned(), sub);
        if !replacing {
            self.subs += 1;
        }
        Ok(replacing)
    }

    /// Close one subscription; true if it existed.
    pub fn unsubscribe(&mut self, conn: ConnId, id: &str) -> bool {
        let removed = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.subs.remove(id).is_some());
        if removed {
            self.subs -= 1;
        }
        removed
    }

    /// Queue `entry` for every subscription it matches.
    pub fn fan_out(&mut self, entry: &Arc<EventEntry>) -> FanOut {
        let mut out = FanOut::default();
        let mut dead: Vec<ConnId> = Vec::new();
        for (id, conn) in &self.conns {
            for sub in conn.subs.values() {
                if !any_match(&sub.filters, entry) {
                    continue;
                }
                let msg = Outbound {
                    sub: sub.quoted_id.clone(),
                    entry: entry.clone(),
                };
                match conn.tx.try_send(msg) {
                    Ok(()) => out.queued += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        conn.kicked.notify_one();
                        out.kicked += 1;
                        dead.push(*id);
                        break;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        dead.push(*id);
                        break;
                    }
                }
            }
        }
        for id in dead {
            out.subs_removed += self.remove_conn(id);
        }
        out
    }
}
