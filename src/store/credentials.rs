//! Node credentials per owner, sealed with the device key ([`crate::secrets::Vault`]): group
//! and share credentials, relays, group name and save time. Nothing of it is stored in the
//! clear. The setting `node.owner` names whose credentials the node runs with.

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::schema::{CREDENTIALS, V2_CREDENTIALS};
use super::users::read_table;
use super::{Store, StoreError};
use crate::secrets::{SecretsError, Vault};

const TABLE: &str = "credentials";

type OwnerTable = redb::TableDefinition<'static, &'static str, &'static [u8]>;
/// Setting naming the owner whose credentials the node runs with.
pub const NODE_OWNER_SETTING: &str = "node.owner";
/// Owner key of the headless (`/api/env`) credentials.
pub const ENV_OWNER: &str = "env";

pub fn user_owner(id: u64) -> String {
    format!("user:{id}")
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("stored credentials are damaged")]
    Corrupt,
}

/// One owner's node settings. Any field may be absent; the node needs both credentials.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeCredentials {
    pub group_cred: Option<String>,
    pub share_cred: Option<String>,
    pub relays: Option<Vec<String>>,
    pub group_name: Option<String>,
    /// Unix milliseconds of the last credential change.
    pub saved_at: Option<u64>,
}

impl NodeCredentials {
    pub fn has_credentials(&self) -> bool {
        self.group_cred.is_some() && self.share_cred.is_some()
    }
}

impl Drop for NodeCredentials {
    fn drop(&mut self) {
        self.group_cred.zeroize();
        self.share_cred.zeroize();
    }
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials")
            .field(
                "group_cred",
                &self.group_cred.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "share_cred",
                &self.share_cred.as_ref().map(|_| "<redacted>"),
            )
            .field("relays", &self.relays)
            .field("group_name", &self.group_name)
            .field("saved_at", &self.saved_at)
            .finish()
    }
}

impl Store {
    /// Seals and stores `creds` for `owner`.
    pub fn put_credentials(
        &self,
        vault: &Vault,
        owner: &str,
        creds: &NodeCredentials,
    ) -> Result<(), CredentialsError> {
        self.put_sealed(vault, CREDENTIALS, TABLE, owner, creds)
    }

    /// Reads and opens `owner`'s credentials.
    pub fn get_credentials(
        &self,
        vault: &Vault,
        owner: &str,
    ) -> Result<Option<NodeCredentials>, CredentialsError> {
        self.get_sealed(vault, CREDENTIALS, TABLE, owner)
    }

    /// Whether `owner` has a stored record (readable without the device key).
    pub fn has_credentials_record(&self, owner: &str) -> Result<bool, StoreError> {
        self.has_record(CREDENTIALS, owner)
    }

    pub fn delete_credentials(&self, owner: &str) -> Result<bool, StoreError> {
        self.delete_record(CREDENTIALS, owner)
    }

    // One sealed-JSON-record-per-owner layout shared by the v1 and V2 credential tables;
    // the table name is the AEAD label, so a record cannot be moved between tables.
    fn put_sealed<T: Serialize>(
        &self,
        vault: &Vault,
        table: OwnerTable,
        label: &str,
        owner: &str,
        value: &T,
    ) -> Result<(), CredentialsError> {
        let plain =
            Zeroizing::new(serde_json::to_vec(value).map_err(|_| CredentialsError::Corrupt)?);
        let sealed = vault.seal(label, owner, &plain)?;
        let txn = self.db()?.begin_write().map_err(StoreError::from)?;
        txn.open_table(table)
            .map_err(StoreError::from)?
            .insert(owner, sealed.as_slice())
            .map_err(StoreError::from)?;
        txn.commit().map_err(StoreError::from)?;
        Ok(())
    }

    fn get_sealed<T: serde::de::DeserializeOwned>(
        &self,
        vault: &Vault,
        table: OwnerTable,
        label: &str,
        owner: &str,
    ) -> Result<Option<T>, CredentialsError> {
        let sealed = {
            let txn = self.db()?.begin_read().map_err(StoreError::from)?;
            let Some(t) = read_table(&txn, table)? else {
                return Ok(None);
            };
            t.get(owner)
                .map_err(StoreError::from)?
                .map(|v| v.value().to_vec())
        };
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = vault.open_sealed(label, owner, &sealed)?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| CredentialsError::Corrupt)
    }

    fn has_record(&self, table: OwnerTable, owner: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, table)? else {
            return Ok(false);
        };
        Ok(t.get(owner)?.is_some())
    }

    fn delete_record(&self, table: OwnerTable, owner: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let existed = txn.open_table(table)?.remove(owner)?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// The owner whose credentials the node runs with, if any.
    pub fn node_owner(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .get_setting(NODE_OWNER_SETTING)?
            .and_then(|v| String::from_utf8(v).ok()))
    }

    pub fn set_node_owner(&self, owner: Option<&str>) -> Result<(), StoreError> {
        match owner {
            Some(o) => self.put_setting(NODE_OWNER_SETTING, o.as_bytes()),
            None => self.delete_setting(NODE_OWNER_SETTING).map(|_| ()),
        }
    }
}

// ---- V2M: V2 credentials (sealed like the v1 record; lazily created table) ----

const V2_TABLE: &str = "v2_credentials";
/// Setting naming the protocol the node runs (`v1` or `v2`); absent means v1.
pub const NODE_PROTOCOL_SETTING: &str = "node.protocol";

/// One owner's V2 credentials as stored: the share secret (hex), the group package (JSON)
/// once known, relays and where they came from. Convert with [`crate::keyset::record`].
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct V2NodeCredentials {
    pub share_secret: String,
    pub group_package: Option<String>,
    pub relays: Vec<String>,
    /// Provisioning peer of a `bfonboard` (x-only hex).
    pub peer_pk: Option<String>,
    pub device_name: Option<String>,
    /// `bfprofile` policy overrides (JSON array), kept for the V2 runtime.
    pub policy_overrides: Option<String>,
    /// `migrate`, `bfshare`, `bfonboard` or `bfprofile`.
    pub source: String,
    /// Unix milliseconds of the save.
    pub saved_at: u64,
}

impl Drop for V2NodeCredentials {
    fn drop(&mut self) {
        self.share_secret.zeroize();
    }
}

impl std::fmt::Debug for V2NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2NodeCredentials")
            .field("share_secret", &"<redacted>")
            .field("group_package", &self.group_package.is_some())
            .field("relays", &self.relays)
            .field("source", &self.source)
            .field("saved_at", &self.saved_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn put_v2_credentials(
        &self,
        vault: &Vault,
        owner: &str,
        creds: &V2NodeCredentials,
    ) -> Result<(), CredentialsError> {
        self.put_sealed(vault, V2_CREDENTIALS, V2_TABLE, owner, creds)
    }

    pub fn get_v2_credentials(
        &self,
        vault: &Vault,
        owner: &str,
    ) -> Result<Option<V2NodeCredentials>, CredentialsError> {
        self.get_sealed(vault, V2_CREDENTIALS, V2_TABLE, owner)
    }

    /// Whether `owner` has a stored V2 record (readable without the device key).
    pub fn has_v2_credentials_record(&self, owner: &str) -> Result<bool, StoreError> {
        self.has_record(V2_CREDENTIALS, owner)
    }

    pub fn delete_v2_credentials(&self, owner: &str) -> Result<bool, StoreError> {
        self.delete_record(V2_CREDENTIALS, owner)
    }

    /// `true` when the node is switched to V2 (setting [`NODE_PROTOCOL_SETTING`] = `v2`).
    pub fn node_runs_v2(&self) -> Result<bool, StoreError> {
        Ok(self.get_setting(NODE_PROTOCOL_SETTING)?.as_deref() == Some(b"v2".as_slice()))
    }

    pub fn set_node_v2(&self, v2: bool) -> Result<(), StoreError> {
        if v2 {
            self.put_setting(NODE_PROTOCOL_SETTING, b"v2")
        } else {
            self.delete_setting(NODE_PROTOCOL_SETTING).map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_sealed_per_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let v = Vault::open(tmp.path()).unwrap();
        assert!(s.get_credentials(&v, "user:1").unwrap().is_none());
        let c = NodeCredentials {
            group_cred: Some("bfgroup1secretgroup".into()),
            share_cred: Some("bfshare1secretshare".into()),
            relays: Some(vec!["ws://127.0.0.1:1".into()]),
            group_name: Some("home".into()),
            saved_at: Some(1),
        };
        s.put_credentials(&v, "user:1", &c).unwrap();
        assert_eq!(s.get_credentials(&v, "user:1").unwrap().unwrap(), c);
        assert!(s.has_credentials_record("user:1").unwrap());
        assert!(!format!("{c:?}").contains("secretshare"));
        s.set_node_owner(Some("user:1")).unwrap();
        assert_eq!(s.node_owner().unwrap().as_deref(), Some("user:1"));
        s.set_node_owner(None).unwrap();
        assert!(s.node_owner().unwrap().is_none());
        assert!(s.delete_credentials("user:1").unwrap());
        assert!(s.get_credentials(&v, "user:1").unwrap().is_none());
        let path = s.path().to_path_buf();
        drop(s);
        let raw = std::fs::read(path).unwrap();
        assert!(!raw.windows(11).any(|w| w == b"secretshare"));
    }

    #[test]
    fn v2_credentials_are_sealed_and_table_is_lazy() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let v = Vault::open(tmp.path()).unwrap();
        assert!(s.get_v2_credentials(&v, "env").unwrap().is_none());
        assert!(!s.has_v2_credentials_record("env").unwrap());
        let c = V2NodeCredentials {
            share_secret: "ab".repeat(32),
            group_package: Some("{}".into()),
            relays: vec!["ws://127.0.0.1:1".into()],
            peer_pk: None,
            device_name: None,
            policy_overrides: None,
            source: "migrate".into(),
            saved_at: 7,
        };
        s.put_v2_credentials(&v, "env", &c).unwrap();
        assert_eq!(s.get_v2_credentials(&v, "env").unwrap().unwrap(), c);
        assert!(!format!("{c:?}").contains("abab"));
        assert!(!s.node_runs_v2().unwrap());
        s.set_node_v2(true).unwrap();
        assert!(s.node_runs_v2().unwrap());
        s.set_node_v2(false).unwrap();
        assert!(!s.node_runs_v2().unwrap());
        assert!(s.delete_v2_credentials("env").unwrap());
        assert!(s.get_v2_credentials(&v, "env").unwrap().is_none());
        let path = s.path().to_path_buf();
        drop(s);
        let raw = std::fs::read(path).unwrap();
        assert!(!raw.windows(16).any(|w| w == b"abababababababab"));
    }
}
