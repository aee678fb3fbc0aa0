//! Node credentials as callers change them: a database user's own record (saving a complete
//! pair makes it the node's; deleting it stops the node) and, headless, the sealed `env`
//! record behind `GROUP_CRED`/`SHARE_CRED`/`RELAYS`/`GROUP_NAME`.

use super::lifecycle::decode_pair;
use super::{Control, ControlError, Result, blocking};
use crate::secrets::Vault;
use crate::store::Store;
use crate::store::credentials::{ENV_OWNER, NodeCredentials, user_owner};
use crate::store::users::{DeleteUser, now_ms};

/// A change to a user's record: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Default)]
pub struct CredentialsEdit {
    pub group_cred: Option<Option<String>>,
    pub share_cred: Option<Option<String>>,
    pub relays: Option<Option<Vec<String>>>,
    pub group_name: Option<Option<String>>,
}

/// What saving a user's credentials did.
pub struct Saved {
    /// Both credentials are stored.
    pub complete: bool,
    /// This user's credentials are the node's.
    pub node_owner: bool,
}

/// Whether a user has a complete credential pair (false when locked or unreadable).
pub fn has_credentials(store: &Store, vault: &Vault, id: u64) -> bool {
    store
        .get_credentials(vault, &user_owner(id))
        .ok()
        .flatten()
        .is_some_and(|c| c.has_credentials())
}

/// Checks a complete pair: both decode and the share belongs to the group.
fn check(creds: &NodeCredentials) -> Result<()> {
    if let (Some(g), Some(s)) = (&creds.group_cred, &creds.share_cred) {
        decode_pair(g, s).map_err(ControlError::InvalidCredentials)?;
    }
    Ok(())
}

impl Control {
    /// User `id`'s stored record.
    pub async fn user_credentials(&self, id: u64) -> Result<Option<NodeCredentials>> {
        let (store, vault) = (self.store.clone(), self.vault.clone());
        blocking(move || Ok(store.get_credentials(&vault, &user_owner(id))?)).await
    }

    async fn save_user_credentials(&self, id: u64, creds: NodeCredentials) -> Result<()> {
        let (store, vault) = (self.store.clone(), self.vault.clone());
        blocking(move || Ok(store.put_credentials(&vault, &user_owner(id), &creds)?)).await
    }

    /// Applies `edit` to user `id`'s record, checks a complete pair, seals it and makes it the
    /// node's when allowed (see [`Self::after_user_change`]).
    pub async fn update_user_credentials(
        &self,
        id: u64,
        admin: bool,
        edit: CredentialsEdit,
    ) -> Result<Saved> {
        let mut creds = self.user_credentials(id).await?.unwrap_or_default();
        let before = (creds.group_cred.clone(), creds.share_cred.clone());
        if let Some(g) = edit.group_cred {
            creds.group_cred = g;
        }
        if let Some(s) = edit.share_cred {
            creds.share_cred = s;
        }
        if let Some(r) = edit.relays {
            creds.relays = r;
        }
        if let Some(n) = edit.group_name {
            creds.group_name = n;
        }
        check(&creds)?;
        let changed = before != (creds.group_cred.clone(), creds.share_cred.clone());
        if changed {
            creds.saved_at = Some(now_ms());
        }
        let complete = creds.has_credentials();
        self.save_user_credentials(id, creds).await?;
        let node_owner = self.after_user_change(id, complete, admin).await?;
        tracing::info!(user = id, complete, node_owner, "user credentials saved");
        Ok(Saved {
            complete,
            node_owner,
        })
    }

    /// Removes user `id`'s credentials, relays and group name; the node stops if it was theirs.
    pub async fn delete_user_credentials(&self, id: u64) -> Result<()> {
        let store = self.store.clone();
        blocking(move || Ok(store.delete_credentials(&user_owner(id))?)).await?;
        self.after_user_change(id, false, false).await?;
        tracing::info!(user = id, "user credentials deleted");
        Ok(())
    }

    /// Sets user `id`'s relays (`None`: the configured default); a running node of this user
    /// restarts with them. Returns the relays now in effect for the user.
    pub async fn set_user_relays(
        &self,
        id: u64,
        relays: Option<Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut creds = self.user_credentials(id).await?.unwrap_or_default();
        creds.relays = relays;
        let complete = creds.has_credentials();
        let shown = creds
            .relays
            .clone()
            .unwrap_or_else(|| self.config.relays.clone());
        self.save_user_credentials(id, creds).await?;
        // Restart only a node that is this user's.
        let store = self.store.clone();
        let owner = blocking(move || Ok(store.node_owner()?)).await?;
        if complete && owner.as_deref() == Some(user_owner(id).as_str()) {
            self.reload_node().await;
        }
        Ok(shown)
    }

    /// After a change to user `id`'s record: make it the node's when complete, restart or stop
    /// the node when it was (or becomes) this user's. Only an admin may take the node over from
    /// another owner; a plain user's complete pair runs the node only when nobody else's does.
    /// Returns whether this user's credentials are the node's.
    async fn after_user_change(&self, id: u64, complete: bool, admin: bool) -> Result<bool> {
        let store = self.store.clone();
        let me = user_owner(id);
        let (was_mine, is_mine) = {
            let me = me.clone();
            blocking(move || {
                let owner = store.node_owner()?;
                let was_mine = owner.as_deref() == Some(me.as_str());
                let free = owner.is_none() || was_mine;
                if complete && (free || admin) {
                    if !was_mine {
                        store.set_node_owner(Some(&me))?;
                    }
                    return Ok((was_mine, true));
                }
                if !complete && was_mine {
                    store.set_node_owner(None)?;
                }
                Ok((was_mine, false))
            })
            .await?
        };
        if is_mine || was_mine {
            self.reload_node().await;
        }
        Ok(is_mine)
    }

    /// Deletes user `id`; the node stops when it ran their credentials.
    pub async fn delete_user(&self, id: u64) -> Result<DeleteUser> {
        let store = self.store.clone();
        let (outcome, was_node_owner) = blocking(move || {
            let outcome = store.delete_user(id)?;
            let mut was_node_owner = false;
            if outcome == DeleteUser::Deleted
                && store.node_owner()?.as_deref() == Some(user_owner(id).as_str())
            {
                store.set_node_owner(None)?;
                was_node_owner = true;
            }
            Ok((outcome, was_node_owner))
        })
        .await?;
        if was_node_owner {
            self.node.stop();
        }
        Ok(outcome)
    }

    /// The headless `env` record (credentials, relays, group name saved at run time).
    pub async fn env_record(&self) -> Result<Option<NodeCredentials>> {
        let (store, vault) = (self.store.clone(), self.vault.clone());
        blocking(move || Ok(store.get_credentials(&vault, ENV_OWNER)?)).await
    }

    /// Applies `f` to the sealed `env` record (a complete pair must decode and belong
    /// together) and makes it the node's when complete. Returns whether it changed (the node
    /// must then reload: [`Self::reload_node`]).
    pub async fn update_env_record(
        &self,
        f: impl FnOnce(&mut NodeCredentials) -> bool,
    ) -> Result<bool> {
        let mut rec = self.env_record().await?.unwrap_or_default();
        if !f(&mut rec) {
            return Ok(false);
        }
        check(&rec)?;
        let complete = rec.has_credentials();
        let (store, vault) = (self.store.clone(), self.vault.clone());
        blocking(move || {
            store.put_credentials(&vault, ENV_OWNER, &rec)?;
            Ok(store.set_node_owner(if complete { Some(ENV_OWNER) } else { None })?)
        })
        .await?;
        Ok(true)
    }

    /// Saves a headless share and group (`POST /api/env/shares`) and restarts the node.
    pub async fn save_env_share(&self, group: &str, share: &str) -> Result<()> {
        decode_pair(group, share).map_err(ControlError::InvalidCredentials)?;
        let (group, share) = (group.to_string(), share.to_string());
        self.update_env_record(|rec| {
            rec.group_cred = Some(group);
            rec.share_cred = Some(share);
            rec.saved_at = Some(now_ms());
            true
        })
        .await?;
        self.reload_node().await;
        tracing::info!("share saved through /api/env/shares");
        Ok(())
    }
}
