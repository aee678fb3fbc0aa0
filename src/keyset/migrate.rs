//! Migration core (bifrost-rs.md §2.3): recover the group secret from t v1 shares (or take
//! an nsec), split it into a V2 keyset with the SAME x-only npub, keep member 1 for this
//! node and seal one `bfonboard` per other member, naming this node as the provisioning
//! peer (§4.10, §4.15: a bfonboard carries share secret, relays and `peer_pk` only).

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::frostr::credentials::{self as v1cred, CredentialError};
use crate::frostr::recovery::{RecoveryError, recover_secret};
use crate::frostr::{SecretScalar, nip19};
use crate::frostr_v2::credentials::{self as v2cred, KdfParams, OnboardPackage, PackageError};
use crate::frostr_v2::keyset::{self as v2keyset, KeysetError, MAX_DEALER_MEMBERS};
use crate::frostr_v2::{GroupPackage, ShareSecret};

/// What the owner must be told after a migration, in plain words.
pub const V1_WARNING: &str = "Your npub is unchanged, but the old v1 shares (bfshare) are still valid \
shares of the same key: anyone holding enough of them can still sign as you, and a v1 node left \
running keeps leaking them. Destroy every old v1 share and stop every v1 device; until the last \
one is gone, the migration has not made your key safer.";

/// The shortest password accepted for the `bfonboard` packages.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The member this node keeps; the others get a `bfonboard`.
pub const OWN_IDX: u16 = 1;
/// Shape used for an nsec when the caller gives none.
pub const DEFAULT_THRESHOLD: u16 = 2;
pub const DEFAULT_MEMBERS: u16 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    #[error("give either the v1 group with its shares, or an nsec — not both, not neither")]
    Source,
    #[error("group credential: {0}")]
    Group(CredentialError),
    #[error("share {position}: {source}")]
    Share {
        position: usize,
        source: CredentialError,
    },
    #[error("nsec: {0}")]
    Nsec(CredentialError),
    #[error("{0}")]
    Recovery(#[from] RecoveryError),
    #[error("the v1 group has {0} members; a V2 keyset can have at most {MAX_DEALER_MEMBERS}")]
    TooManyMembers(u32),
    #[error("keyset shape: {0}")]
    Keyset(#[from] KeysetError),
    #[error("at least one relay is needed for the onboarding packages: {0}")]
    Relays(String),
    #[error("the package password must be at least {MIN_PASSWORD_LEN} characters")]
    Password,
    #[error("could not seal an onboarding package: {0}")]
    Package(#[from] PackageError),
}

/// Where the group secret comes from.
#[derive(Clone, Copy)]
pub enum MigrationInput<'a> {
    /// A v1 `bfgroup1…` and at least t of its `bfshare1…`.
    V1Shares {
        group: &'a str,
        shares: &'a [String],
    },
    /// An `nsec1…`.
    Nsec(&'a str),
}

impl std::fmt::Debug for MigrationInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V1Shares { shares, .. } => write!(f, "V1Shares(<{} redacted>)", shares.len()),
            Self::Nsec(_) => f.write_str("Nsec(<redacted>)"),
        }
    }
}

/// Shape and packaging of the new keyset.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Defaults: the v1 group's threshold, or [`DEFAULT_THRESHOLD`] for an nsec.
    pub threshold: Option<u16>,
    /// Defaults: the v1 group's size, or [`DEFAULT_MEMBERS`] for an nsec.
    pub members: Option<u16>,
    pub name: String,
    /// Relays written into every `bfonboard` (validated ws:// / wss:// URLs).
    pub relays: Vec<String>,
    pub kdf: KdfParams,
}

/// One other member's onboarding package.
pub struct OnboardOut {
    pub idx: u16,
    pub bfonboard: Zeroizing<String>,
}

impl std::fmt::Debug for OnboardOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnboardOut")
            .field("idx", &self.idx)
            .finish_non_exhaustive()
    }
}

/// The result: the V2 group, this node's share, and the packages for the others.
#[derive(Debug)]
pub struct Migration {
    pub npub: String,
    pub group: GroupPackage,
    pub own: ShareSecret,
    pub relays: Vec<String>,
    pub onboard: Vec<OnboardOut>,
}

fn secret_of(
    input: MigrationInput<'_>,
) -> Result<(SecretScalar, Option<(u16, u16)>), MigrateError> {
    match input {
        MigrationInput::V1Shares { group, shares } => {
            let g = v1cred::decode_group(group.trim()).map_err(MigrateError::Group)?;
            let shares = shares
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    v1cred::decode_share(s.trim()).map_err(|source| MigrateError::Share {
                        position: i + 1,
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let total = g.total();
            let members = u16::try_from(total)
                .ok()
                .filter(|m| *m <= MAX_DEALER_MEMBERS)
                .ok_or(MigrateError::TooManyMembers(total))?;
            let threshold =
                u16::try_from(g.threshold).map_err(|_| MigrateError::TooManyMembers(total))?;
            let secret = recover_secret(&g, &shares)?;
            Ok((secret, Some((threshold, members))))
        }
        MigrationInput::Nsec(s) => {
            let secret = nip19::decode_nsec(s.trim()).map_err(MigrateError::Nsec)?;
            Ok((secret, None))
        }
    }
}

/// Checks relay URLs the way `RELAYS` is checked; at least one.
pub fn check_relays(relays: &[String]) -> Result<Vec<String>, MigrateError> {
    let joined = serde_json::to_string(relays).map_err(|e| MigrateError::Relays(e.to_string()))?;
    let out = crate::config::parse_relays(&joined).map_err(MigrateError::Relays)?;
    if out.is_empty() {
        return Err(MigrateError::Relays("none given".into()));
    }
    Ok(out)
}

/// Runs the migration. CPU-heavy (one Argon2id per `bfonboard`): call off the async runtime.
pub fn migrate<R: RngCore + CryptoRng>(
    input: MigrationInput<'_>,
    opts: &MigrateOptions,
    password: &str,
    rng: &mut R,
) -> Result<Migration, MigrateError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(MigrateError::Password);
    }
    let relays = check_relays(&opts.relays)?;
    let (secret, shape) = secret_of(input)?;
    let (t0, n0) = shape.unwrap_or((DEFAULT_THRESHOLD, DEFAULT_MEMBERS));
    let threshold = opts.threshold.unwrap_or(t0);
    let members = opts.members.unwrap_or(n0);
    let name = if opts.name.trim().is_empty() {
        "igloo"
    } else {
        opts.name.trim()
    };
    let ks = v2keyset::split(name, &secret, threshold, members, rng)?;
    let mut own = None;
    let mut others = Vec::new();
    for share in ks.shares {
        if share.idx == OWN_IDX {
            own = Some(share);
        } else {
            others.push(share);
        }
    }
    let own = own.ok_or(KeysetError::Params)?;
    let peer_pk = own.peer_id();
    let mut onboard = Vec::with_capacity(others.len());
    for share in others {
        let pkg = OnboardPackage {
            share_secret: share.secret.clone(),
            relays: relays.clone(),
            peer_pk,
        };
        let bfonboard = v2cred::encode_onboard(&pkg, password, opts.kdf, rng)?;
        onboard.push(OnboardOut {
            idx: share.idx,
            bfonboard,
        });
    }
    Ok(Migration {
        npub: nip19::encode_npub(&ks.group.group_pk),
        group: ks.group,
        own,
        relays,
        onboard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_password_and_missing_relays_are_refused_before_any_work() {
        let opts = MigrateOptions {
            threshold: None,
            members: None,
            name: String::new(),
            relays: vec![],
            kdf: KdfParams::FLOOR,
        };
        let nsec = "nsec1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsmhltgl";
        let r = migrate(
            MigrationInput::Nsec(nsec),
            &opts,
            "short",
            &mut rand::rngs::OsRng,
        );
        assert_eq!(r.unwrap_err(), MigrateError::Password);
        let r = migrate(
            MigrationInput::Nsec(nsec),
            &opts,
            "long enough",
            &mut rand::rngs::OsRng,
        );
        assert!(matches!(r.unwrap_err(), MigrateError::Relays(_)));
        assert!(!format!("{:?}", MigrationInput::Nsec(nsec)).contains("nsec1"));
    }
}
