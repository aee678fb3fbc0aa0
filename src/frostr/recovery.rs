//! Recovery of the group secret from t or more shares (spec §9).

use k256::Scalar;
use zeroize::Zeroizing;

use super::credentials::{CredentialError, check_share_in_group};
use super::poly::lagrange_at_zero;
use super::types::{GroupPackage, SecretScalar, SharePackage};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    #[error("not enough shares: {have} given, the group needs at least {need}")]
    NotEnoughShares { have: usize, need: u32 },
    #[error("share {idx} was given more than once")]
    DuplicateShare { idx: u32 },
    #[error("{0}")]
    ShareNotInGroup(CredentialError),
    #[error("the shares do not combine to the group's public key")]
    Inconsistent,
}

/// Σ λ_i(S)·x_i over the given `(idx, secret)` points: the polynomial's value at 0.
/// `None` for an empty set, a zero index or a duplicate index. With fewer than t shares the
/// result is an unrelated scalar; [`recover_secret`] guards against that.
pub fn interpolate_at_zero(points: &[(u32, &SecretScalar)]) -> Option<Zeroizing<Scalar>> {
    if points.is_empty() {
        return None;
    }
    let idxs: Vec<u32> = points.iter().map(|(i, _)| *i).collect();
    let mut acc = Zeroizing::new(Scalar::ZERO);
    for (i, s) in points {
        let lambda = lagrange_at_zero(*i, &idxs)?;
        *acc += lambda * s.scalar();
    }
    Some(acc)
}

/// Recovers the group secret (the nsec that was split) from shares of `group`.
/// Every share must belong to the group, appear once, and there must be at least t of them.
pub fn recover_secret(
    group: &GroupPackage,
    shares: &[SharePackage],
) -> Result<SecretScalar, RecoveryError> {
    // Membership first: a foreign share with the index of one of ours does not belong (it
    // is not "the same share twice").
    for s in shares {
        check_share_in_group(s, group).map_err(RecoveryError::ShareNotInGroup)?;
    }
    for (n, s) in shares.iter().enumerate() {
        if shares[..n].iter().any(|o| o.idx == s.idx) {
            return Err(RecoveryError::DuplicateShare { idx: s.idx });
        }
    }
    if shares.len() < group.threshold as usize {
        return Err(RecoveryError::NotEnoughShares {
            have: shares.len(),
            need: group.threshold,
        });
    }
    let points: Vec<(u32, &SecretScalar)> = shares.iter().map(|s| (s.idx, &s.seckey)).collect();
    let secret = interpolate_at_zero(&points).ok_or(RecoveryError::Inconsistent)?;
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(secret.to_bytes().into());
    let secret = SecretScalar::from_bytes(&bytes).ok_or(RecoveryError::Inconsistent)?;
    // A group whose commits were not dealt from one polynomial of degree < t would interpolate
    // to some other key; never hand that out as "the" nsec.
    if secret.public_key() != group.group_pk {
        return Err(RecoveryError::Inconsistent);
    }
    Ok(secret)
}
