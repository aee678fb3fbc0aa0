//! Typed access to the `settings` table.

use redb::ReadableDatabase;

use super::schema::SETTINGS;
use super::{Store, StoreError};

/// Longest accepted setting key.
pub const MAX_KEY_LEN: usize = 128;

/// Setting keys are 1..=[`MAX_KEY_LEN`] characters from `a-z 0-9 _ . -` (schema v2 form).
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey {
            key: key.chars().take(MAX_KEY_LEN + 1).collect(),
        })
    }
}

impl Store {
    /// Reads a setting. Blocking: see the module docs.
    pub fn get_setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(key)?;
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(SETTINGS)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Writes a setting durably: when this returns `Ok`, the value survives a crash.
    pub fn put_setting(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        validate_key(key)?;
        let txn = self.db()?.begin_write()?;
        txn.open_table(SETTINGS)?.insert(key, value)?;
        txn.commit()?;
        Ok(())
    }

    /// Deletes a setting; returns whether it existed.
    pub fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        let txn = self.db()?.begin_write()?;
        let existed = txn.open_table(SETTINGS)?.remove(key)?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// All setting keys, sorted.
    pub fn setting_keys(&self) -> Result<Vec<String>, StoreError> {
        use redb::ReadableTable;
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(SETTINGS)?;
        let mut keys = Vec::new();
        for entry in table.iter()? {
            let (k, _) = entry?;
            keys.push(k.value().to_owned());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        for good in [
            "group_name",
            "relays",
            "tls.cert-sha256",
            "a",
            &"x".repeat(MAX_KEY_LEN),
        ] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "GROUP_NAME",
            "peer_policy:ab",
            "a b",
            "é",
            &"x".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }
}
