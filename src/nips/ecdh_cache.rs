//! A small cache of threshold-ECDH results, so a burst of NIP-04/44 calls for one peer costs
//! one network round. Bounded in size and age; secrets are zeroized when evicted.
//!
//! Keyed by (group key, peer x): the shared x depends only on the group secret and the peer's
//! x-coordinate (x(a·P) = x(a·(−P))), so an entry stays correct across node restarts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How long a shared secret is reused.
pub const TTL: Duration = Duration::from_secs(120);
/// At most this many peers are cached; the oldest entry is dropped first.
pub const CAPACITY: usize = 256;

type Key = ([u8; 32], [u8; 32]);
/// When an entry was stored, and the shared x.
type Entry = (Instant, Zeroizing<[u8; 32]>);

pub struct EcdhCache {
    ttl: Duration,
    capacity: usize,
    map: Mutex<HashMap<Key, Entry>>,
}

impl EcdhCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh copy of the cached shared x, if any.
    pub fn get(&self, group: &[u8; 32], peer: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        self.get_at(group, peer, Instant::now())
    }

    fn get_at(
        &self,
        group: &[u8; 32],
        peer: &[u8; 32],
        now: Instant,
    ) -> Option<Zeroizing<[u8; 32]>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (*group, *peer);
        match map.get(&key) {
            Some((at, x)) if now.saturating_duration_since(*at) < self.ttl => {
                Some(Zeroizing::new(**x))
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, group: &[u8; 32], peer: &[u8; 32], shared_x: &[u8; 32]) {
        self.put_at(group, peer, shared_x, Instant::now());
    }

    fn put_at(&self, group: &[u8; 32], peer: &[u8; 32], shared_x: &[u8; 32], now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = self.ttl;
        map.retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
        while map.len() >= self.capacity {
            let oldest = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k);
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert((*group, *peer), (now, Zeroizing::new(*shared_x)));
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let c = EcdhCache::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        let g = [1u8; 32];
        c.put_at(&g, &[1u8; 32], &[11u8; 32], t0);
        assert_eq!(c.get_at(&g, &[1u8; 32], t0).as_deref(), Some(&[11u8; 32]));
        assert!(
            c.get_at(&[2u8; 32], &[1u8; 32], t0).is_none(),
            "other group"
        );
        assert!(
            c.get_at(&g, &[1u8; 32], t0 + Duration::from_secs(10))
                .is_none()
        );
        assert!(c.is_empty(), "expired entry removed");
        for i in 0..5u8 {
            c.put_at(
                &g,
                &[i; 32],
                &[i; 32],
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(c.len(), 3);
        let later = t0 + Duration::from_secs(1);
        assert!(c.get_at(&g, &[0u8; 32], later).is_none(), "oldest evicted");
        assert_eq!(c.get_at(&g, &[4u8; 32], later).as_deref(), Some(&[4u8; 32]));
    }
}
