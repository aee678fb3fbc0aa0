//! V2 (bifrost-rs) nonce safety in the store (§4.6):
//! * spent outgoing nonce codes, keyed `gid(32) ‖ code(32)` in [`V2_SPENT_NONCES`] → unix
//!   time spent. Written and committed BEFORE the partial that uses the code is sent, so a
//!   code is never signed with twice, even across a crash;
//! * a run marker per group in [`V2_NODE_STATE`] (`run:<gid hex>`), set while a node runs
//!   and cleared on a clean stop. Found at start-up, it means the last run ended uncleanly
//!   and every nonce pool must be discarded;
//! * the nonce pools of a clean stop in [`V2_NONCE_POOLS`] (`<gid hex>:<peer hex>` → bytes
//!   the node sealed), written with the marker's removal and taken (deleted) by the next
//!   start, which uses them only when that start is clean.
//!
//! Tables are created on first write; a missing table reads as empty.

use redb::{ReadableDatabase, ReadableTable, TableError};

use super::schema::{V2_NODE_STATE, V2_NONCE_POOLS, V2_SPENT_NONCES};
use super::{Store, StoreError};

fn spent_key(gid: &[u8; 32], code: &[u8; 32]) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(gid);
    k[32..].copy_from_slice(code);
    k
}

fn marker_key(gid: &[u8; 32]) -> String {
    format!("run:{}", hex::encode(gid))
}

impl Store {
    /// Durably record `codes` of group `gid` as spent at `now`. Returns `Ok(false)` (and
    /// writes nothing) when any of them was already spent: the caller must not sign then.
    pub fn v2_mark_spent(
        &self,
        gid: &[u8; 32],
        codes: &[[u8; 32]],
        now: u64,
    ) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(V2_SPENT_NONCES)?;
            for c in codes {
                if table.get(spent_key(gid, c).as_slice())?.is_some() {
                    return Ok(false);
                }
            }
            for c in codes {
                table.insert(spent_key(gid, c).as_slice(), now)?;
            }
        }
        txn.commit()?;
        Ok(true)
    }

    /// Whether `code` of group `gid` is recorded as spent.
    pub fn v2_is_spent(&self, gid: &[u8; 32], code: &[u8; 32]) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = match txn.open_table(V2_SPENT_NONCES) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(spent_key(gid, code).as_slice())?.is_some())
    }

    /// Set the run marker of `gid`; returns whether one was already there (the previous
    /// run did not stop cleanly).
    pub fn v2_begin_run(&self, gid: &[u8; 32], now: u64) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let was_dirty = {
            let mut table = txn.open_table(V2_NODE_STATE)?;
            let key = marker_key(gid);
            let was = table.get(key.as_str())?.is_some();
            table.insert(key.as_str(), now.to_be_bytes().as_slice())?;
            was
        };
        txn.commit()?;
        Ok(was_dirty)
    }

    /// Clear the run marker of `gid` (clean stop).
    pub fn v2_end_run(&self, gid: &[u8; 32]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(V2_NODE_STATE)?
            .remove(marker_key(gid).as_str())?;
        txn.commit()?;
        Ok(())
    }

    /// [`Self::v2_begin_run`] that also takes (reads and deletes) the pools saved by the last
    /// clean stop: `(unclean, pools)`. After an unclean stop the saved pools (if any) are
    /// deleted and none are returned.
    #[allow(clippy::type_complexity)]
    pub fn v2_begin_run_taking_pools(
        &self,
        gid: &[u8; 32],
        now: u64,
    ) -> Result<(bool, Vec<([u8; 32], Vec<u8>)>), StoreError> {
        let prefix = format!("{}:", hex::encode(gid));
        let txn = self.db()?.begin_write()?;
        let (was_dirty, pools) = {
            let mut state = txn.open_table(V2_NODE_STATE)?;
            let key = marker_key(gid);
            let was = state.get(key.as_str())?.is_some();
            state.insert(key.as_str(), now.to_be_bytes().as_slice())?;
            let mut table = txn.open_table(V2_NONCE_POOLS)?;
            let mut found = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                if let Some(peer) = k.value().strip_prefix(prefix.as_str()) {
                    found.push((k.value().to_owned(), peer.to_owned(), v.value().to_vec()));
                }
            }
            let mut pools = Vec::new();
            for (k, peer, v) in found {
                table.remove(k.as_str())?;
                let mut id = [0u8; 32];
                if !was && hex::decode_to_slice(&peer, &mut id).is_ok() {
                    pools.push((id, v));
                }
            }
            (was, pools)
        };
        txn.commit()?;
        Ok((was_dirty, pools))
    }

    /// [`Self::v2_end_run`] that saves `pools` (peer id → sealed bytes) in the same
    /// transaction: they count only together with a clean stop.
    pub fn v2_end_run_saving_pools(
        &self,
        gid: &[u8; 32],
        pools: &[([u8; 32], Vec<u8>)],
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(V2_NONCE_POOLS)?;
            for (peer, bytes) in pools {
                let key = format!("{}:{}", hex::encode(gid), hex::encode(peer));
                table.insert(key.as_str(), bytes.as_slice())?;
            }
            txn.open_table(V2_NODE_STATE)?
                .remove(marker_key(gid).as_str())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Whether the run marker of `gid` is set.
    pub fn v2_run_marker(&self, gid: &[u8; 32]) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = match txn.open_table(V2_NODE_STATE) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(marker_key(gid).as_str())?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().expect("tmp");
        let s = Store::open(&tmp.path().join("igloo.redb")).expect("open");
        (tmp, s)
    }

    #[test]
    fn spent_codes_are_durable_group_scoped_and_refused_twice() {
        let (tmp, s) = store();
        let (g1, g2) = ([1u8; 32], [2u8; 32]);
        assert!(!s.v2_is_spent(&g1, &[9; 32]).expect("read missing table"));
        assert!(s.v2_mark_spent(&g1, &[[9; 32], [8; 32]], 5).expect("mark"));
        assert!(!s.v2_mark_spent(&g1, &[[7; 32], [9; 32]], 6).expect("mark"));
        assert!(
            !s.v2_is_spent(&g1, &[7; 32]).expect("read"),
            "all or nothing"
        );
        assert!(!s.v2_is_spent(&g2, &[9; 32]).expect("read"), "other group");
        let path = s.path().to_path_buf();
        drop(s);
        let s = Store::open(&path).expect("reopen");
        assert!(s.v2_is_spent(&g1, &[9; 32]).expect("read"));
        assert!(s.v2_is_spent(&g1, &[8; 32]).expect("read"));
        drop(tmp);
    }

    #[test]
    fn run_marker_tells_an_unclean_stop() {
        let (_tmp, s) = store();
        let g = [3u8; 32];
        assert!(!s.v2_run_marker(&g).expect("read"));
        assert!(!s.v2_begin_run(&g, 1).expect("begin"), "first run is clean");
        assert!(s.v2_run_marker(&g).expect("read"));
        assert!(
            s.v2_begin_run(&g, 2).expect("begin"),
            "no clean stop in between"
        );
        s.v2_end_run(&g).expect("end");
        assert!(!s.v2_begin_run(&g, 3).expect("begin"));
    }

    #[test]
    fn pools_saved_by_a_clean_stop_are_taken_once_and_only_by_a_clean_start() {
        let (_tmp, s) = store();
        let (g, other) = ([4u8; 32], [5u8; 32]);
        let pools = vec![([1u8; 32], vec![1, 2, 3]), ([2u8; 32], vec![4])];
        assert_eq!(
            s.v2_begin_run_taking_pools(&g, 1).expect("begin"),
            (false, vec![])
        );
        s.v2_begin_run(&other, 1).expect("other group");
        s.v2_end_run_saving_pools(&other, &[([9u8; 32], vec![9])])
            .expect("other group saves");
        s.v2_end_run_saving_pools(&g, &pools).expect("save");
        assert!(
            !s.v2_run_marker(&g).expect("read"),
            "saving is a clean stop"
        );
        let (dirty, mut got) = s.v2_begin_run_taking_pools(&g, 2).expect("begin");
        got.sort();
        assert_eq!((dirty, got), (false, pools.clone()));
        // Taken: a crash now and a restart finds none.
        assert_eq!(
            s.v2_begin_run_taking_pools(&g, 3).expect("begin"),
            (true, vec![])
        );
        // Saved, then an unclean stop (marker set again): the start discards them.
        s.v2_end_run_saving_pools(&g, &pools).expect("save");
        s.v2_begin_run(&g, 4).expect("crashed run");
        assert_eq!(
            s.v2_begin_run_taking_pools(&g, 5).expect("begin"),
            (true, vec![])
        );
        assert_eq!(
            s.v2_begin_run_taking_pools(&g, 6).expect("begin"),
            (true, vec![])
        );
        // Another group's pools were left alone by all of this.
        let theirs = s.v2_begin_run_taking_pools(&other, 7).expect("other");
        assert_eq!(theirs, (false, vec![([9u8; 32], vec![9])]));
    }
}
