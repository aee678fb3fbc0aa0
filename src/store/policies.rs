//! Per-peer policies (`peer_policies`) and partial-signature counters (`audit_counters`).
//!
//! Keys are scoped to a group, so a device that changes keysets never applies one group's
//! policy or count to another group's member with a coincidentally equal key:
//! * policy: `<group id hex>:<peer x-only hex>` → versioned JSON [`StoredPolicy`];
//! * counter: `partials:<group id hex>:<peer x-only hex>` → partial signatures issued.
//!
//! Both tables exist from schema v2, but reads treat a missing table as empty anyway.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable, TableError};
use serde::{Deserialize, Serialize};

use super::schema::{AUDIT_COUNTERS, PEER_POLICIES};
use super::{Store, StoreError};

/// Current encoding version of a [`StoredPolicy`].
const POLICY_VERSION: u32 = 1;

/// A policy set through the API, as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredPolicy {
    /// Encoding version; records from a newer igloo are skipped, not misread.
    pub v: u32,
    pub allow_send: bool,
    pub allow_receive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Most partial signatures this peer may ever obtain from us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_cap: Option<u64>,
    /// Unix seconds of the last change.
    pub last_updated: u64,
}

impl StoredPolicy {
    pub fn new(
        allow_send: bool,
        allow_receive: bool,
        label: Option<String>,
        note: Option<String>,
        partial_cap: Option<u64>,
        last_updated: u64,
    ) -> Self {
        Self {
            v: POLICY_VERSION,
            allow_send,
            allow_receive,
            label,
            note,
            partial_cap,
            last_updated,
        }
    }
}

fn policy_key(group: &[u8; 32], peer: &[u8; 32]) -> String {
    format!("{}:{}", hex::encode(group), hex::encode(peer))
}

fn counter_key(group: &[u8; 32], peer: &[u8; 32]) -> String {
    format!("partials:{}:{}", hex::encode(group), hex::encode(peer))
}

/// Parse the peer part of a group-scoped key with the given prefix.
fn peer_of(key: &str, prefix: &str) -> Option<[u8; 32]> {
    let rest = key.strip_prefix(prefix)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(rest, &mut out).ok()?;
    Some(out)
}

impl Store {
    /// Every stored policy of `group`, by peer x-only key. Undecodable or newer records are
    /// skipped with a warning (the peer then falls back to its env or default policy).
    pub fn load_peer_policies(
        &self,
        group: &[u8; 32],
    ) -> Result<HashMap<[u8; 32], StoredPolicy>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = match txn.open_table(PEER_POLICIES) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let prefix = format!("{}:", hex::encode(group));
        let mut out = HashMap::new();
        for entry in table.range(prefix.as_str()..)? {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(&prefix) {
                break;
            }
            let Some(peer) = peer_of(key, &prefix) else {
                continue;
            };
            match serde_json::from_slice::<StoredPolicy>(v.value()) {
                Ok(p) if p.v <= POLICY_VERSION => {
                    out.insert(peer, p);
                }
                Ok(p) => tracing::warn!(version = p.v, "skipping a peer policy from a newer igloo"),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable peer policy"),
            }
        }
        Ok(out)
    }

    /// Store (replace) one peer's policy durably.
    pub fn put_peer_policy(
        &self,
        group: &[u8; 32],
        peer: &[u8; 32],
        policy: &StoredPolicy,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(policy).map_err(|e| StoreError::Task(e.to_string()))?;
        let txn = self.db()?.begin_write()?;
        txn.open_table(PEER_POLICIES)?
            .insert(policy_key(group, peer).as_str(), bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Remove one peer's stored policy; returns whether there was one.
    pub fn delete_peer_policy(
        &self,
        group: &[u8; 32],
        peer: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let existed = txn
            .open_table(PEER_POLICIES)?
            .remove(policy_key(group, peer).as_str())?
            .is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Partial signatures issued to each peer of `group`.
    pub fn load_partial_counts(
        &self,
        group: &[u8; 32],
    ) -> Result<HashMap<[u8; 32], u64>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = match txn.open_table(AUDIT_COUNTERS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let prefix = format!("partials:{}:", hex::encode(group));
        let mut out = HashMap::new();
        for entry in table.range(prefix.as_str()..)? {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(&prefix) {
                break;
            }
            if let Some(peer) = peer_of(key, &prefix) {
                out.insert(peer, v.value());
            }
        }
        Ok(out)
    }

    /// Raise the stored counts to at least `counts` in one durable transaction. Counters only
    /// grow: writing the maximum makes out-of-order or repeated flushes harmless.
    pub fn raise_partial_counts(
        &self,
        group: &[u8; 32],
        counts: &[([u8; 32], u64)],
    ) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(AUDIT_COUNTERS)?;
            for (peer, n) in counts {
                let key = counter_key(group, peer);
                let old = table.get(key.as_str())?.map(|v| v.value()).unwrap_or(0);
                if *n > old {
                    table.insert(key.as_str(), *n)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_group_scoped_and_persist() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (g1, g2, p) = ([1u8; 32], [2u8; 32], [9u8; 32]);
        {
            let store = Store::open(tmp.path()).expect("open");
            assert!(store.load_peer_policies(&g1).expect("load").is_empty());
            let pol = StoredPolicy::new(false, true, Some("phone".into()), None, Some(5), 42);
            store.put_peer_policy(&g1, &p, &pol).expect("put");
            assert!(store.load_peer_policies(&g2).expect("load").is_empty());
            assert_eq!(
                store.close().expect("close"),
                super::super::CloseOutcome::Closed
            );
        }
        let store = Store::open(tmp.path()).expect("reopen");
        let got = store.load_peer_policies(&g1).expect("load");
        assert_eq!(got.len(), 1);
        let pol = got.get(&p).expect("peer");
        assert!(!pol.allow_send && pol.allow_receive);
        assert_eq!(pol.partial_cap, Some(5));
        assert_eq!(pol.label.as_deref(), Some("phone"));
        assert!(store.delete_peer_policy(&g1, &p).expect("delete"));
        assert!(!store.delete_peer_policy(&g1, &p).expect("delete again"));
        assert!(store.load_peer_policies(&g1).expect("load").is_empty());
    }

    #[test]
    fn counters_only_grow() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = Store::open(tmp.path()).expect("open");
        let (g, a, b) = ([3u8; 32], [4u8; 32], [5u8; 32]);
        store
            .raise_partial_counts(&g, &[(a, 3), (b, 1)])
            .expect("raise");
        store
            .raise_partial_counts(&g, &[(a, 2)])
            .expect("stale flush");
        let c = store.load_partial_counts(&g).expect("load");
        assert_eq!(c.get(&a), Some(&3));
        assert_eq!(c.get(&b), Some(&1));
        assert!(
            store
                .load_partial_counts(&[0u8; 32])
                .expect("load")
                .is_empty()
        );
    }

    #[test]
    fn a_newer_or_garbage_record_is_skipped() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = Store::open(tmp.path()).expect("open");
        let g = [7u8; 32];
        let mut newer = StoredPolicy::new(false, false, None, None, None, 1);
        newer.v = POLICY_VERSION + 1;
        store.put_peer_policy(&g, &[1u8; 32], &newer).expect("put");
        let txn = store.db().expect("db").begin_write().expect("txn");
        txn.open_table(PEER_POLICIES)
            .expect("table")
            .insert(policy_key(&g, &[2u8; 32]).as_str(), &b"not json"[..])
            .expect("insert");
        txn.commit().expect("commit");
        assert!(store.load_peer_policies(&g).expect("load").is_empty());
    }
}
