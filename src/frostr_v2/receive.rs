//! The receive checks of §4.5, in order, as pure functions of the event, our state and
//! `now` (unix seconds). Steps: (1) kind and single `p` tag, (2) id and signature,
//! (3) author is a configured peer and not us, (4) decrypt and parse, (5) freshness and
//! replay. Request-specific checks (canonical members, gid, sid) follow in
//! [`check_members`] and the sign/ECDH validators.

use std::collections::{HashSet, VecDeque};

use super::envelope::Envelope;
use super::event::{self, Event, EventError};
use super::types::GroupPackage;
use crate::frostr::SecretScalar;

/// Freshness and replay window.
pub const REQUEST_TTL: u64 = 300;
/// How far in the future `sent_at` may be.
pub const MAX_FUTURE_SKEW: u64 = 30;
/// Replay cache size.
pub const REPLAY_CAPACITY: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("message is from ourselves")]
    FromSelf,
    #[error("message author is not a member of the group")]
    UnknownPeer,
    #[error("message was sent more than {MAX_FUTURE_SKEW} s in the future")]
    FromFuture,
    #[error("message is older than {REQUEST_TTL} s")]
    Expired,
    #[error("message repeats a request id already seen from this peer")]
    Replay,
    #[error(
        "member list is not sorted, has duplicates, names a non-member or is below the threshold"
    )]
    Members,
    #[error("member list does not include {0}")]
    MissingMember(u16),
}

/// Reject messages from the future (> 30 s skew) or older than the TTL.
pub fn check_freshness(sent_at: u64, now: u64) -> Result<(), ReceiveError> {
    if sent_at > now.saturating_add(MAX_FUTURE_SKEW) {
        return Err(ReceiveError::FromFuture);
    }
    if now > sent_at.saturating_add(REQUEST_TTL) {
        return Err(ReceiveError::Expired);
    }
    Ok(())
}

/// Bounded memory of `(author, request_id)` pairs seen within the TTL. Entries leave when
/// they expire or, when the cache is full, oldest first (bounded like bifrost-rs's 2048).
#[derive(Debug, Default, Clone)]
pub struct ReplayCache {
    order: VecDeque<(u64, [u8; 32], String)>,
    seen: HashSet<([u8; 32], String)>,
    capacity: usize,
}

impl ReplayCache {
    pub fn new() -> Self {
        Self::with_capacity(REPLAY_CAPACITY)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            seen: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn prune(&mut self, now: u64) {
        while let Some((sent_at, _, _)) = self.order.front() {
            if now <= sent_at.saturating_add(REQUEST_TTL) {
                break;
            }
            if let Some((_, a, r)) = self.order.pop_front() {
                self.seen.remove(&(a, r));
            }
        }
    }

    /// Record a fresh message; `Err(Replay)` when this pair was already seen.
    pub fn check_and_insert(
        &mut self,
        author: &[u8; 32],
        request_id: &str,
        sent_at: u64,
        now: u64,
    ) -> Result<(), ReceiveError> {
        self.prune(now);
        let key = (*author, request_id.to_owned());
        if self.seen.contains(&key) {
            return Err(ReceiveError::Replay);
        }
        while self.order.len() >= self.capacity {
            if let Some((_, a, r)) = self.order.pop_front() {
                self.seen.remove(&(a, r));
            }
        }
        self.order.push_back((sent_at, key.0, key.1.clone()));
        self.seen.insert(key);
        Ok(())
    }
}

/// An authenticated, fresh, non-replayed message from a group member.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub author: [u8; 32],
    pub author_idx: u16,
    pub envelope: Envelope,
}

/// Run §4.5 steps 1–5 on one event. The replay cache is updated only for messages that
/// pass everything before it.
pub fn accept(
    own: &SecretScalar,
    own_id: &[u8; 32],
    group: &GroupPackage,
    replay: &mut ReplayCache,
    event: &Event,
    now: u64,
) -> Result<Inbound, ReceiveError> {
    let author = event::check_event(event, own_id)?;
    if &author == own_id {
        return Err(ReceiveError::FromSelf);
    }
    let author_idx = group
        .member_by_peer_id(&author)
        .ok_or(ReceiveError::UnknownPeer)?
        .idx;
    let envelope = event::open(own, &author, event)?;
    check_freshness(envelope.sent_at, now)?;
    replay.check_and_insert(&author, &envelope.request_id, envelope.sent_at, now)?;
    Ok(Inbound {
        author,
        author_idx,
        envelope,
    })
}

/// Canonical member list: strictly ascending (so sorted and unique), every index in the
/// group, at least the threshold, and containing each of `required`.
pub fn check_members(
    members: &[u16],
    group: &GroupPackage,
    required: &[u16],
) -> Result<(), ReceiveError> {
    if members.len() < usize::from(group.threshold) {
        return Err(ReceiveError::Members);
    }
    if members.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ReceiveError::Members);
    }
    if members.iter().any(|m| group.member(*m).is_none()) {
        return Err(ReceiveError::Members);
    }
    for r in required {
        if !members.contains(r) {
            return Err(ReceiveError::MissingMember(*r));
        }
    }
    Ok(())
}
