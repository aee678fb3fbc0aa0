//! Rebuilding the group's nsec from t shares, and checking one credential (reference §3.8).
//! The nsec goes back to the caller (that is the purpose) and is never logged.

use zeroize::Zeroizing;

use crate::frostr::SharePackage;
use crate::frostr::credentials::{check_share_in_group, decode_group, decode_share};
use crate::frostr::nip19::encode_nsec;
use crate::frostr::recovery::recover_secret;

/// A share that could not be used, by its position in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidShare {
    pub index: usize,
    pub error: String,
}

/// The recovered key.
pub struct Recovered {
    /// `nsec1…`
    pub nsec: Zeroizing<String>,
    pub shares_used: usize,
    pub threshold: u32,
    pub invalid: Vec<InvalidShare>,
}

/// Why recovery did not give a key. Messages are safe to show.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("Invalid group credential: {0}")]
    Group(String),
    #[error("No valid share credentials provided")]
    NoValidShares { invalid: Vec<InvalidShare> },
    #[error("Insufficient shares: need {required}, got {provided}")]
    Insufficient {
        provided: usize,
        required: u32,
        invalid: Vec<InvalidShare>,
    },
    /// The shares do not combine to the group key.
    #[error("Recovery failed: {error}")]
    Failed {
        error: String,
        provided: usize,
        invalid: Vec<InvalidShare>,
    },
}

/// Recovers the nsec from a `bfgroup` and at least its threshold of its `bfshare`s. Shares
/// that do not decode, are not in the group or repeat an index are reported, not fatal.
pub fn recover(group_cred: &str, share_creds: &[String]) -> Result<Recovered, RecoveryError> {
    let group = decode_group(group_cred.trim()).map_err(|e| RecoveryError::Group(e.to_string()))?;
    let mut valid: Vec<SharePackage> = Vec::new();
    let mut invalid: Vec<InvalidShare> = Vec::new();
    for (index, cred) in share_creds.iter().enumerate() {
        let checked = decode_share(cred.trim())
            .map_err(|e| e.to_string())
            .and_then(|s| {
                check_share_in_group(&s, &group).map_err(|e| e.to_string())?;
                if valid.iter().any(|v| v.idx == s.idx) {
                    return Err(format!("share {} was given more than once", s.idx));
                }
                Ok(s)
            });
        match checked {
            Ok(s) => valid.push(s),
            Err(error) => invalid.push(InvalidShare { index, error }),
        }
    }
    if valid.is_empty() {
        return Err(RecoveryError::NoValidShares { invalid });
    }
    let need = group.threshold;
    if valid.len() < need as usize {
        return Err(RecoveryError::Insufficient {
            provided: valid.len(),
            required: need,
            invalid,
        });
    }
    let secret = match recover_secret(&group, &valid) {
        Ok(s) => s,
        Err(e) => {
            return Err(RecoveryError::Failed {
                error: e.to_string(),
                provided: valid.len(),
                invalid,
            });
        }
    };
    Ok(Recovered {
        nsec: Zeroizing::new(encode_nsec(&secret).as_str().to_owned()),
        shares_used: valid.len(),
        threshold: need,
        invalid,
    })
}

/// Which kind of credential to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    Group,
    Share,
}

/// What a valid credential holds: threshold and member count of a group, index of a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Group { threshold: u32, total: u32 },
    Share { idx: u32 },
}

/// Decodes one credential: what it holds, or why it is invalid.
pub fn validate(kind: CredentialKind, cred: &str) -> Result<Decoded, String> {
    let cred = cred.trim();
    match kind {
        CredentialKind::Group => decode_group(cred).map(|g| Decoded::Group {
            threshold: g.threshold,
            total: g.total(),
        }),
        CredentialKind::Share => decode_share(cred).map(|s| Decoded::Share { idx: s.idx }),
    }
    .map_err(|e| e.to_string())
}
