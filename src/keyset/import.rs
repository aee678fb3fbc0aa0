//! V2 credentials this node can hold, and importing them from a password-protected
//! package (§4.15): `bfshare` (share + relays; the group package must be given beside it),
//! `bfonboard` (share + relays + provisioning peer; the group arrives with the onboard
//! response, which the V2 node runtime fetches) or `bfprofile` (everything).

use crate::frostr::SecretScalar;
use crate::frostr::nip19;
use crate::frostr_v2::credentials::{self as v2cred, PackageError, PolicyOverride};
use crate::frostr_v2::types::GroupError;
use crate::frostr_v2::{GroupPackage, ShareSecret};

/// How the credentials came to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V2Source {
    /// Made here by a v1 → V2 migration.
    Migrate,
    Bfshare,
    Bfonboard,
    Bfprofile,
}

impl V2Source {
    pub fn as_str(self) -> &'static str {
        match self {
            V2Source::Migrate => "migrate",
            V2Source::Bfshare => "bfshare",
            V2Source::Bfonboard => "bfonboard",
            V2Source::Bfprofile => "bfprofile",
        }
    }
}

/// This node's V2 credentials. The share secret zeroizes on drop and is redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Credentials {
    pub share_secret: SecretScalar,
    /// Absent until known (a `bfonboard` learns it from the provisioning peer).
    pub group: Option<GroupPackage>,
    pub relays: Vec<String>,
    /// The provisioning peer of a `bfonboard` (x-only).
    pub peer_pk: Option<[u8; 32]>,
    /// Device name of a `bfprofile`.
    pub device_name: Option<String>,
    pub policy_overrides: Vec<PolicyOverride>,
    pub source: V2Source,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("expected a bfshare1…, bfonboard1… or bfprofile1… package")]
    UnknownKind,
    #[error(
        "this is a v1 share (bfshare without a password envelope); move a v1 keyset with POST /api/keyset/migrate instead"
    )]
    V1Share,
    #[error("the package password is empty")]
    Password,
    #[error("{0}")]
    Package(#[from] PackageError),
    #[error("group package: {0}")]
    Group(#[from] GroupError),
    #[error("the share is not a member of the given group package")]
    NotInGroup,
    #[error("a bfshare does not carry the group: give the group package (JSON) with it")]
    GroupNeeded,
}

impl V2Credentials {
    /// This node's share located in its group (exact compressed key), once the group is known.
    pub fn share(&self) -> Option<ShareSecret> {
        let g = self.group.as_ref()?;
        ShareSecret::locate(self.share_secret.clone(), g).ok()
    }

    /// Whether a V2 node can run from these credentials as they are.
    pub fn is_complete(&self) -> bool {
        self.share().is_some()
    }

    /// A `bfonboard` whose group has not been fetched yet: the V2 runtime must onboard first.
    pub fn needs_onboard(&self) -> bool {
        self.group.is_none() && self.peer_pk.is_some()
    }

    pub fn npub(&self) -> Option<String> {
        self.group.as_ref().map(|g| nip19::encode_npub(&g.group_pk))
    }

    /// The share's own x-only key (its Nostr identity as a member).
    pub fn peer_id(&self) -> [u8; 32] {
        ShareSecret {
            idx: 0,
            secret: self.share_secret.clone(),
        }
        .peer_id()
    }

    /// This node's credentials after [`super::migrate`].
    pub fn from_migration(m: &super::Migration) -> Self {
        Self {
            share_secret: m.own.secret.clone(),
            group: Some(m.group.clone()),
            relays: m.relays.clone(),
            peer_pk: None,
            device_name: None,
            policy_overrides: Vec::new(),
            source: V2Source::Migrate,
        }
    }
}

fn check_member(c: V2Credentials) -> Result<V2Credentials, ImportError> {
    match &c.group {
        Some(g) => {
            g.validate()?;
            if c.share().is_none() {
                return Err(ImportError::NotInGroup);
            }
            Ok(c)
        }
        None => Ok(c),
    }
}

/// Opens `package` with `password`. `group_json` is the V2 group package for a `bfshare`
/// (required there; for a `bfonboard` it is optional and checked when given; a `bfprofile`
/// carries its own). CPU-heavy (Argon2id): call off the async runtime.
pub fn import_package(
    package: &str,
    password: &str,
    group_json: Option<&str>,
) -> Result<V2Credentials, ImportError> {
    let package = package.trim();
    if password.is_empty() {
        return Err(ImportError::Password);
    }
    let lower = package.to_ascii_lowercase();
    let group = group_json
        .map(|g| GroupPackage::from_json(g.trim()))
        .transpose()?;
    let creds = if lower.starts_with("bfprofile1") {
        let p = v2cred::decode_profile(package, password)?;
        V2Credentials {
            share_secret: p.share_secret.clone(),
            group: Some(p.group.clone()),
            relays: p.relays.clone(),
            peer_pk: None,
            device_name: Some(p.name.clone()),
            policy_overrides: p.policy_overrides.clone(),
            source: V2Source::Bfprofile,
        }
    } else if lower.starts_with("bfonboard1") {
        let p = v2cred::decode_onboard(package, password)?;
        V2Credentials {
            share_secret: p.share_secret.clone(),
            group,
            relays: p.relays.clone(),
            peer_pk: Some(p.peer_pk),
            device_name: None,
            policy_overrides: Vec::new(),
            source: V2Source::Bfonboard,
        }
    } else if lower.starts_with("bfshare1") {
        let p = match v2cred::decode_share(package, password) {
            Ok(p) => p,
            Err(PackageError::Json)
                if crate::frostr::credentials::decode_share(package).is_ok() =>
            {
                return Err(ImportError::V1Share);
            }
            Err(e) => return Err(e.into()),
        };
        if group.is_none() {
            return Err(ImportError::GroupNeeded);
        }
        V2Credentials {
            share_secret: p.share_secret.clone(),
            group,
            relays: p.relays.clone(),
            peer_pk: None,
            device_name: None,
            policy_overrides: Vec::new(),
            source: V2Source::Bfshare,
        }
    } else {
        return Err(ImportError::UnknownKind);
    };
    check_member(creds)
}

/// Opens the V2 credentials given at boot (SHARE_CRED + SHARE_PASSWORD [+ GROUP_CRED]).
/// CPU-heavy (Argon2id), off the async runtime; the daemon opens them once through
/// [`super::env_cache::OpenedEnv::open`] and node reloads answer from that cache.
pub fn from_env(c: &crate::config::V2EnvCredentials) -> Result<V2Credentials, ImportError> {
    import_package(
        c.package.expose(),
        c.password.expose(),
        c.group_json.as_deref(),
    )
}
