//! Which protocol the node runs, moving a v1 keyset to V2 with the same npub, importing V2
//! credentials, and going back to v1 (issue 7). The owner only; callers check that.
//!
//! Secrets in: v1 shares, an nsec, package passwords (wiped after use, never logged).
//! Secrets out: only the `bfonboard` packages a migration was asked to make. The V2
//! credentials themselves are sealed in the store ([`crate::store::credentials`]).

use zeroize::Zeroizing;

use super::{Control, ControlError, Result, blocking};
use crate::frostr_v2::credentials::KdfParams;
use crate::keyset::migrate::{MigrateOptions, MigrationInput};
use crate::keyset::record::{from_record, to_record};
use crate::keyset::{MigrateError, Migration, V1_WARNING, V2Credentials, import_package, migrate};
use crate::store::credentials::{ENV_OWNER, user_owner};
use crate::store::users::now_ms;

/// Argon2id cost of the `bfonboard` packages made here: the main line's default.
pub const PACKAGE_KDF: KdfParams = KdfParams::DEFAULT;

/// One package derivation job at a time: each Argon2id run takes 256 MiB, and a small
/// appliance must not be pushed into swap by parallel migrations or imports.
static HEAVY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

async fn heavy_slot() -> Result<tokio::sync::SemaphorePermit<'static>> {
    HEAVY.acquire().await.map_err(|_| ControlError::Busy)
}

/// What the node is set to run, and what is stored (no secrets).
pub struct KeysetState {
    /// `v1`, `v2` or `none`.
    pub protocol: &'static str,
    pub v1_configured: bool,
    /// The stored V2 credentials and when they were saved.
    pub v2: Option<(V2Credentials, u64)>,
    pub node_active: bool,
}

/// A migration request: `group` + `shares` or `nsec`, and the shape of the new keyset.
pub struct MigrateRequest {
    pub group: Option<String>,
    pub shares: Zeroizing<Vec<String>>,
    pub nsec: Zeroizing<String>,
    pub password: Zeroizing<String>,
    pub relays: Option<Vec<String>>,
    pub threshold: Option<u16>,
    pub members: Option<u16>,
    pub name: Option<String>,
}

/// A migration done: this node is switched to V2.
pub struct Migrated {
    pub migration: Migration,
    pub node_active: bool,
    /// Plain words: the old v1 shares stay valid until every one is destroyed.
    pub warning: String,
}

/// An import done.
pub struct Imported {
    pub creds: V2Credentials,
    /// The node was switched to these credentials (complete, or a `bfonboard` to onboard).
    pub switched: bool,
    pub node_active: bool,
}

impl Control {
    /// Whose credentials a caller manages: the headless record, a database user's own
    /// (`user`), or (admin secret, auth off) the node's current owner.
    pub async fn keyset_owner(&self, user: Option<u64>) -> Result<String> {
        if self.config.headless {
            return Ok(ENV_OWNER.to_owned());
        }
        if let Some(id) = user {
            return Ok(user_owner(id));
        }
        let store = self.store.clone();
        blocking(move || Ok(store.node_owner()?.unwrap_or_else(|| ENV_OWNER.to_owned()))).await
    }

    /// What `user`'s keyset is and what the node is set to run.
    pub async fn keyset_state(&self, user: Option<u64>) -> Result<KeysetState> {
        let owner = self.keyset_owner(user).await?;
        let env_creds = self.config.headless && self.config.has_env_credentials();
        let (store, vault) = (self.store.clone(), self.vault.clone());
        let (v1, v2, runs_v2) = blocking(move || {
            let v1 = store
                .get_credentials(&vault, &owner)?
                .is_some_and(|c| c.has_credentials());
            let v2 = match store.get_v2_credentials(&vault, &owner)? {
                Some(r) => {
                    let c = from_record(&r).map_err(|e| ControlError::Unreadable(e.to_string()))?;
                    Some((c, r.saved_at))
                }
                None => None,
            };
            let runs_v2 = store.node_runs_v2()?;
            Ok((v1, v2, runs_v2))
        })
        .await?;
        let v1_configured = v1 || env_creds;
        // V2 credentials from the environment (SHARE_CRED + SHARE_PASSWORD) run a V2 node
        // without anything stored; a running node says what it speaks.
        let env_v2 = self.config.headless && self.config.v2_credentials.is_some();
        let running = self.node.current_any().map(|n| n.protocol());
        let protocol = if running == Some(crate::node::v2::Protocol::V2)
            || (running.is_none() && (env_v2 || (runs_v2 && v2.is_some())))
        {
            "v2"
        } else if running == Some(crate::node::v2::Protocol::V1) {
            "v1"
        } else if runs_v2 && v2.is_some() {
            "v2"
        } else if v1_configured {
            "v1"
        } else {
            "none"
        };
        Ok(KeysetState {
            protocol,
            v1_configured,
            v2,
            node_active: self.node_active(),
        })
    }

    /// Removes `user`'s V2 credentials; the node goes back to the stored v1 credentials, if
    /// any. Returns whether there were V2 credentials.
    pub async fn delete_keyset(&self, user: Option<u64>) -> Result<bool> {
        let owner = self.keyset_owner(user).await?;
        let store = self.store.clone();
        let removed = blocking(move || {
            let removed = store.delete_v2_credentials(&owner)?;
            store.set_node_v2(false)?;
            Ok(removed)
        })
        .await?;
        self.reload_node().await;
        Ok(removed)
    }

    /// Seals `creds` as `owner`'s V2 credentials.
    async fn save_v2(&self, owner: &str, creds: &V2Credentials) -> Result<()> {
        let rec = to_record(creds, now_ms());
        let (store, vault, owner) = (self.store.clone(), self.vault.clone(), owner.to_owned());
        blocking(move || Ok(store.put_v2_credentials(&vault, &owner, &rec)?)).await
    }

    /// A `bfprofile`'s policy overrides become the stored peer policies (an API-set one
    /// stays); the node loads them when it (re)starts on the switch.
    async fn apply_profile_policies(&self, creds: &V2Credentials) -> Result<()> {
        let (store, creds) = (self.store.clone(), creds.clone());
        blocking(move || {
            let n = crate::node::v2::apply_profile_policies(&store, &creds)?;
            if n > 0 {
                tracing::info!(
                    policies = n,
                    "peer policies taken from the imported profile"
                );
            }
            Ok(())
        })
        .await
    }

    /// THE switch of the node to V2: records that `owner`'s V2 credentials are the node's and
    /// stops the v1 node (a restart does not bring v1 back: [`super::lifecycle::load`] checks
    /// the switch). Returns whether a node is running afterwards.
    pub async fn switch_node_to_v2(&self, owner: &str) -> Result<bool> {
        let (store, owner) = (self.store.clone(), owner.to_owned());
        blocking(move || {
            store.set_node_owner(Some(&owner))?;
            Ok(store.set_node_v2(true)?)
        })
        .await?;
        // Stop the v1 node: its shares must not keep answering for this key from here.
        let _ = self.node.apply(None, Vec::new(), self.config.sign_timeout);
        self.reload_node().await;
        Ok(self.node_active())
    }

    /// Migrates a v1 keyset (t shares, or the nsec) to V2 with the same npub; this node keeps
    /// member 1, is switched to V2, and the others get password-protected `bfonboard`s.
    pub async fn migrate_keyset(&self, user: Option<u64>, req: MigrateRequest) -> Result<Migrated> {
        let MigrateRequest {
            group,
            shares,
            nsec,
            password,
            relays,
            threshold,
            members,
            name,
        } = req;
        let group = group.filter(|g| !g.trim().is_empty());
        let opts = MigrateOptions {
            threshold,
            members,
            name: name
                .or_else(|| self.config.group_name.clone())
                .unwrap_or_default(),
            relays: relays.unwrap_or_else(|| self.config.relays.clone()),
            kdf: PACKAGE_KDF,
        };
        let by_shares = group.is_some() || !shares.is_empty();
        let by_nsec = !nsec.trim().is_empty();
        if by_shares == by_nsec {
            return Err(MigrateError::Source.into());
        }
        let group = group.unwrap_or_default();
        let slot = heavy_slot().await?;
        let m = blocking(move || {
            let input = if by_nsec {
                MigrationInput::Nsec(&nsec)
            } else {
                MigrationInput::V1Shares {
                    group: &group,
                    shares: &shares,
                }
            };
            Ok(migrate(input, &opts, &password, &mut rand::rngs::OsRng)?)
        })
        .await?;
        drop(slot);
        let owner = self.keyset_owner(user).await?;
        self.save_v2(&owner, &V2Credentials::from_migration(&m))
            .await?;
        let node_active = self.switch_node_to_v2(&owner).await?;
        tracing::info!(npub = %m.npub, members = m.group.members.len(), "keyset migrated to V2");
        let mut warning = V1_WARNING.to_owned();
        if self.config.has_env_credentials() {
            warning.push_str(
                " GROUP_CRED and SHARE_CRED are still set in this server's environment: remove them, \
                 or the v1 node starts again on the next restart.",
            );
        }
        Ok(Migrated {
            migration: m,
            node_active,
            warning,
        })
    }

    /// Imports a `bfshare` (with `group`), `bfonboard` or `bfprofile` opened with `password`
    /// as `user`'s V2 credentials; the node is switched to them when they are complete or a
    /// `bfonboard` awaits onboarding.
    pub async fn import_keyset(
        &self,
        user: Option<u64>,
        package: Zeroizing<String>,
        password: Zeroizing<String>,
        group: Option<String>,
    ) -> Result<Imported> {
        let slot = heavy_slot().await?;
        let creds =
            blocking(move || Ok(import_package(&package, &password, group.as_deref())?)).await?;
        drop(slot);
        let owner = self.keyset_owner(user).await?;
        self.save_v2(&owner, &creds).await?;
        self.apply_profile_policies(&creds).await?;
        let switched = creds.is_complete() || creds.needs_onboard();
        let node_active = if switched {
            self.switch_node_to_v2(&owner).await?
        } else {
            self.node_active()
        };
        tracing::info!(
            source = creds.source.as_str(),
            switch = switched,
            "V2 credentials imported"
        );
        Ok(Imported {
            creds,
            switched,
            node_active,
        })
    }
}
