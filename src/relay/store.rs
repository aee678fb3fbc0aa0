//! Bounded in-memory event store.
//!
//! Events expire `ttl` after they arrived and are capped by count and bytes; when a cap is hit
//! the oldest arrival is evicted first. Replaceable and addressable kinds keep only the newest
//! version, ephemeral kinds are never stored, and an id is stored once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nostr::prelude::{EventId, PublicKey};

use super::entry::{EventEntry, KindClass};
use super::filter::CompiledFilter;

/// Store limits, taken from [`super::RelayConfig`].
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub ttl: Duration,
    pub max_events: usize,
    pub max_bytes: usize,
}

/// What [`Store::insert`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored (and possibly replaced an older version).
    Stored,
    /// The same id is already stored.
    Duplicate,
    /// A newer version of this replaceable/addressable event is stored.
    Obsolete,
    /// Accepted but not kept: ephemeral kind, zero TTL, or larger than the whole byte cap.
    NotStored,
}

struct Stored {
    entry: Arc<EventEntry>,
    seq: u64,
    arrived: Instant,
}

type ReplaceKey = (PublicKey, u16, Box<str>);

pub struct Store {
    limits: StoreLimits,
    by_id: HashMap<EventId, Stored>,
    /// Arrival order, for expiry and eviction (oldest first).
    by_seq: BTreeMap<u64, EventId>,
    /// NIP-01 order (newest first, then lowest id), for queries.
    by_time: BTreeMap<(Reverse<u64>, EventId), Arc<EventEntry>>,
    /// The stored version of each replaceable/addressable coordinate.
    replaceable: HashMap<ReplaceKey, EventId>,
    bytes: usize,
    next_seq: u64,
}

impl Store {
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            by_id: HashMap::new(),
            by_seq: BTreeMap::new(),
            by_time: BTreeMap::new(),
            replaceable: HashMap::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, id: &EventId) -> bool {
        self.by_id.contains_key(id)
    }

    /// Store `entry` if NIP-01 and the limits say so. Returns what happened and how many older
    /// events were evicted to make room.
    pub fn insert(&mut self, entry: Arc<EventEntry>, now: Instant) -> (Inserted, usize) {
        if self.by_id.contains_key(&entry.id) {
            return (Inserted::Duplicate, 0);
        }
        let class = entry.class();
        if class == KindClass::Ephemeral
            || self.limits.ttl.is_zero()
            || self.limits.max_events == 0
            || entry.cost() > self.limits.max_bytes
        {
            return (Inserted::NotStored, 0);
        }
        if matches!(class, KindClass::Replaceable | KindClass::Addressable) {
            let d: Box<str> = if class == KindClass::Addressable {
                entry.d_tag.clone()
            } else {
                Box::from("")
            };
            let key = (entry.pubkey, entry.kind, d);
            if let Some(old_id) = self.replaceable.get(&key).copied() {
                if let Some(old) = self.by_id.get(&old_id) {
                    // NIP-01: keep the newest; on equal timestamps keep the lowest id.
                    if old.entry.sort_key() < entry.sort_key() {
                        return (Inserted::Obsolete, 0);
                    }
                }
                self.remove(&old_id);
            }
            self.replaceable.insert(key, entry.id);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += entry.cost();
        self.by_seq.insert(seq, entry.id);
        self.by_time.insert(entry.sort_key(), entry.clone());
        self.by_id.insert(
            entry.id,
            Stored {
                entry,
                seq,
                arrived: now,
            },
        );
        let mut evicted = 0;
        while self.by_id.len() > self.limits.max_events || self.bytes > self.limits.max_bytes {
            let Some((_, oldest)) = self.by_seq.first_key_value() else {
                break;
            };
            let oldest = *oldest;
            self.remove(&oldest);
            evicted += 1;
        }
        (Inserted::Stored, evicted)
    }

    /// Drop events older than the TTL. Returns how many were dropped.
    pub fn purge(&mut self, now: Instant) -> usize {
        let mut purged = 0;
        while let Some((_, id)) = self.by_seq.first_key_value() {
            let id = *id;
            let expired = self
                .by_id
                .get(&id)
                .is_none_or(|s| now.saturating_duration_since(s.arrived) >= self.limits.ttl);
            if !expired {
                break;
            }
            self.remove(&id);
            purged += 1;
        }
        purged
    }

    fn remove(&mut self, id: &EventId) {
        let Some(stored) = self.by_id.remove(id) else {
            return;
        };
        self.by_seq.remove(&stored.seq);
        self.by_time.remove(&stored.entry.sort_key());
        self.bytes = self.bytes.saturating_sub(stored.entry.cost());
        let class = stored.entry.class();
        if matches!(class, KindClass::Replaceable | KindClass::Addressable) {
            let d: Box<str> = if class == KindClass::Addressable {
                stored.entry.d_tag.clone()
            } else {
                Box::from("")
            };
            let key = (stored.entry.pubkey, stored.entry.kind, d);
            if self.replaceable.get(&key) == Some(id) {
                self.replaceable.remove(&key);
            }
        }
    }

    /// Stored events matching any filter, each filter contributing at most its newest `limit`
    /// matches; the union in NIP-01 order (newest first).
    pub fn query(&self, filters: &[CompiledFilter]) -> Vec<Arc<EventEntry>> {
        let mut seen: HashSet<EventId> = HashSet::new();
        let mut out: Vec<Arc<EventEntry>> = Vec::new();
        for filter in filters {
            for entry in self.query_one(filter) {
                if seen.insert(entry.id) {
                    out.push(entry);
                }
            }
        }
        if filters.len() > 1 {
            out.sort_by_key(|e| e.sort_key());
        }
        out
    }

    /// How many stored events match any filter (NIP-45 COUNT; `limit` is ignored as
    /// NIP-45 counts all matches).
    pub fn count(&self, filters: &[CompiledFilter]) -> usize {
        self.by_time
            .values()
            .filter(|e| filters.iter().any(|f| f.matches(e)))
            .count()
    }

    fn query_one(&self, filter: &CompiledFilter) -> Vec<Arc<EventEntry>> {
        let limit = filter.limit().unwrap_or(usize::MAX);
        if limit == 0 {
            return Vec::new();
        }
        if let Some(ids) = filter.ids() {
            let mut hits: Vec<Arc<EventEntry>> = ids
                .iter()
                .filter_map(|id| self.by_id.get(id))
                .filter(|s| filter.matches(&s.entry))
                .map(|s| s.entry.clone())
                .collect();
            hits.sort_by_key(|e| e.sort_key());
            hits.truncate(limit);
            return hits;
        }
        // Walk newest to oldest, starting at `until` and stopping below `since`.
        let start = (
            Reverse(filter.until().unwrap_or(u64::MAX)),
            EventId::from_byte_array([0; 32]),
        );
        let since = filter.since().unwrap_or(0);
        self.by_time
            .range(start..)
            .map(|(_, e)| e)
            .take_while(|e| e.created_at >= since)
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::prelude::{Filter, Keys, Kind, SecretKey, SingleLetterTag, Timestamp};
    use proptest::prelude::*;

    /// Deriving keys is slow in debug builds; derive the few we use once.
    static PUBKEYS: std::sync::LazyLock<Vec<PublicKey>> = std::sync::LazyLock::new(|| {
        (1u8..=4)
            .map(|i| {
                let sk = SecretKey::from_slice(&[i; 32]).expect("secret key");
                Keys::new(sk).public_key()
            })
            .collect()
    });

    fn pubkey(i: u8) -> PublicKey {
        PUBKEYS[usize::from(i.clamp(1, 4) - 1)]
    }

    fn entry(
        id: u16,
        author: u8,
        kind: u16,
        created_at: u64,
        tags: &[(u8, &str)],
    ) -> Arc<EventEntry> {
        let mut idb = [0u8; 32];
        idb[..2].copy_from_slice(&id.to_be_bytes());
        let d = tags
            .iter()
            .find(|(l, _)| *l == b'd')
            .map(|(_, v)| Box::from(*v))
            .unwrap_or_default();
        Arc::new(EventEntry {
            id: EventId::from_byte_array(idb),
            pubkey: pubkey(author),
            created_at,
            kind,
            tags: tags.iter().map(|(l, v)| (*l, Box::from(*v))).collect(),
            d_tag: d,
            json: "{}".into(),
        })
    }

    fn limits(max_events: usize) -> StoreLimits {
        StoreLimits {
            ttl: Duration::from_secs(30),
            max_events,
            max_bytes: usize::MAX,
        }
    }

    fn compile(f: Filter) -> CompiledFilter {
        CompiledFilter::compile(&f).expect("filter compiles")
    }

    #[test]
    fn eviction_is_by_arrival_and_cleans_every_index() {
        let mut s = Store::new(limits(2));
        let now = Instant::now();
        let a = entry(1, 1, 0, 100, &[]); // replaceable
        let b = entry(2, 1, 1, 50, &[]);
        let c = entry(3, 1, 1, 10, &[]);
        assert_eq!(s.insert(a.clone(), now), (Inserted::Stored, 0));
        assert_eq!(s.insert(b, now), (Inserted::Stored, 0));
        assert_eq!(s.insert(c, now), (Inserted::Stored, 1));
        assert!(
            !s.contains(&a.id),
            "oldest arrival evicted although newest by time"
        );
        // Its replaceable slot is free again: an older kind-0 is now accepted.
        assert_eq!(s.insert(entry(4, 1, 0, 1, &[]), now).0, Inserted::Stored);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn purge_drops_expired_and_frees_bytes() {
        let mut s = Store::new(StoreLimits {
            ttl: Duration::from_secs(1),
            ..limits(10)
        });
        let t0 = Instant::now();
        s.insert(entry(1, 1, 1, 1, &[]), t0);
        s.insert(entry(2, 1, 1, 1, &[]), t0 + Duration::from_millis(600));
        assert_eq!(s.purge(t0 + Duration::from_millis(999)), 0);
        assert_eq!(s.purge(t0 + Duration::from_millis(1000)), 1);
        assert_eq!(s.purge(t0 + Duration::from_millis(1600)), 1);
        assert_eq!((s.len(), s.bytes()), (0, 0));
    }

    #[test]
    fn byte_cap_and_oversized_entries() {
        let one = entry(1, 1, 1, 1, &[]).cost();
        let mut s = Store::new(StoreLimits {
            max_bytes: one * 2,
            ..limits(100)
        });
        let now = Instant::now();
        for i in 0..5 {
            s.insert(entry(i, 1, 1, 1, &[]), now);
            assert!(s.bytes() <= one * 2);
        }
        assert_eq!(s.len(), 2);
        let mut tiny = Store::new(StoreLimits {
            max_bytes: one - 1,
            ..limits(100)
        });
        assert_eq!(
            tiny.insert(entry(1, 1, 1, 1, &[]), now).0,
            Inserted::NotStored
        );
    }

    /// A straightforward model of NIP-01 REQ semantics to compare the indexed query against.
    fn model(events: &[Arc<EventEntry>], filters: &[CompiledFilter]) -> Vec<EventId> {
        let mut out: Vec<Arc<EventEntry>> = Vec::new();
        for f in filters {
            let mut m: Vec<_> = events.iter().filter(|e| f.matches(e)).cloned().collect();
            m.sort_by_key(|e| e.sort_key());
            m.truncate(f.limit().unwrap_or(usize::MAX));
            for e in m {
                if !out.iter().any(|o| o.id == e.id) {
                    out.push(e);
                }
            }
        }
        out.sort_by_key(|e| e.sort_key());
        out.into_iter().map(|e| e.id).collect()
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        (
            proptest::option::of(proptest::collection::vec(0u16..40, 0..4)),
            proptest::option::of(proptest::collection::vec(1u8..4, 1..3)),
            proptest::option::of(proptest::collection::vec(
                proptest::sample::select(vec![1u16, 2, 7]),
                1..3,
            )),
            proptest::option::of(proptest::collection::vec(0u8..3, 1..3)),
            proptest::option::of(0u64..20),
            proptest::option::of(0u64..20),
            proptest::option::of(0usize..6),
        )
            .prop_map(|(ids, authors, kinds, tvals, since, until, limit)| {
                let mut f = Filter::new();
                if let Some(ids) = ids {
                    f = f.ids(ids.into_iter().map(|i| {
                        let mut b = [0u8; 32];
                        b[..2].copy_from_slice(&i.to_be_bytes());
                        EventId::from_byte_array(b)
                    }));
                }
                if let Some(a) = authors {
                    f = f.authors(a.into_iter().map(pubkey));
                }
                if let Some(k) = kinds {
                    f = f.kinds(k.into_iter().map(Kind::from_u16));
                }
                if let Some(t) = tvals {
                    let letter = SingleLetterTag::from_char('t').expect("t");
                    f = f.custom_tags(letter, t.into_iter().map(|v| format!("v{v}")));
                }
                if let Some(s) = since {
                    f = f.since(Timestamp::from_secs(s));
                }
                if let Some(u) = until {
                    f = f.until(Timestamp::from_secs(u));
                }
                if let Some(l) = limit {
                    f = f.limit(l);
                }
                f
            })
    }

    proptest! {
        #[test]
        fn query_matches_model(
            raw in proptest::collection::vec((1u8..4, proptest::sample::select(vec![1u16, 2, 7]), 0u64..20, proptest::option::of(0u8..3)), 0..40),
            filters in proptest::collection::vec(arb_filter(), 1..4),
        ) {
            let mut s = Store::new(limits(1000));
            let now = Instant::now();
            let mut events = Vec::new();
            for (i, (author, kind, t, tag)) in raw.into_iter().enumerate() {
                let v = tag.map(|v| format!("v{v}"));
                let tags: Vec<(u8, &str)> = v.iter().map(|v| (b't', v.as_str())).collect();
                let e = entry(i as u16, author, kind, t, &tags);
                s.insert(e.clone(), now);
                events.push(e);
            }
            let compiled: Vec<CompiledFilter> = filters.into_iter().map(compile).collect();
            let got: Vec<EventId> = s.query(&compiled).into_iter().map(|e| e.id).collect();
            prop_assert_eq!(got, model(&events, &compiled));
        }
    }
}
