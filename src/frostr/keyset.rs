//! Trusted-dealer keyset generation (spec §2.4): a t-of-n Shamir split of a group secret,
//! with static nonces derived the way bifrost's `generate_dealer_pkg` derives them, so that the
//! same inputs give byte-identical credentials.

use k256::Scalar;
use k256::elliptic_curve::hash2curve::{ExpandMsgXmd, hash_to_field};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::types::{Commit, GroupPackage, SecretScalar, SharePackage};

/// Upper bound on the number of members a dealer will create. bifrost has none, but every
/// member costs a 103-byte commit and a few scalar multiplications; this keeps an operator's
/// typo from running for minutes.
pub const MAX_SHARES: u32 = 1000;

const H3_DST: &[u8] = b"FROST-secp256k1-SHA256-v1nonce";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeysetError {
    #[error("threshold {threshold} is invalid for {total} shares (it must be 1..={total})")]
    InvalidThreshold { threshold: u32, total: u32 },
    #[error("{total} shares requested; the number of shares must be 1..={max}")]
    InvalidShareCount { total: u32, max: u32 },
    #[error(
        "{got} polynomial coefficients given, a threshold of {expected} needs exactly {expected}"
    )]
    WrongCoefficientCount { expected: u32, got: usize },
    #[error("{got} nonce seeds given, {expected} shares need exactly {expected}")]
    WrongSeedCount { expected: u32, got: usize },
    #[error("the group secret is zero")]
    ZeroSecret,
    #[error("share {idx} came out as zero; generate the keyset again")]
    DegenerateShare { idx: u32 },
}

/// A freshly dealt keyset: the public group package and every member's share.
#[derive(Debug)]
pub struct Keyset {
    pub group: GroupPackage,
    pub shares: Vec<SharePackage>,
}

/// H3 of spec §7.2: hash_to_field with XMD-SHA-256 and the `…nonce` DST.
fn h3(msg: &[u8]) -> Scalar {
    let mut out = [Scalar::ZERO];
    // Only fails for absurd output lengths; 48 bytes for one scalar is always fine.
    if hash_to_field::<ExpandMsgXmd<Sha256>, Scalar>(&[msg], &[H3_DST], &mut out).is_err() {
        return Scalar::ZERO;
    }
    out[0]
}

/// bifrost's nonce derivation: the seed is used as a hex string of which 32 characters
/// (16 bytes) are right-padded to 32 bytes, then followed by the share secret.
fn derive_nonce(seed_half: &[u8], seckey: &[u8; 32]) -> Scalar {
    let mut pre = Zeroizing::new([0u8; 64]);
    pre[..16].copy_from_slice(seed_half.get(..16).unwrap_or(&[0; 16]));
    pre[32..].copy_from_slice(seckey);
    h3(pre.as_ref())
}

fn check_counts(threshold: u32, total: u32) -> Result<(), KeysetError> {
    if total == 0 || total > MAX_SHARES {
        return Err(KeysetError::InvalidShareCount {
            total,
            max: MAX_SHARES,
        });
    }
    if threshold == 0 || threshold > total {
        return Err(KeysetError::InvalidThreshold { threshold, total });
    }
    Ok(())
}

/// Deterministic dealer, equal to bifrost's `generate_dealer_pkg(t, n, coeffs, aux_seeds)`:
/// `coefficients[j]` (32 bytes, reduced mod the order) is a_j of f(x) = Σ a_j·x^j, `a0` being
/// the group secret; `aux_seeds[i-1]` seeds member i's static nonces.
pub fn split_with(
    threshold: u32,
    total: u32,
    coefficients: &[[u8; 32]],
    aux_seeds: &[[u8; 64]],
) -> Result<Keyset, KeysetError> {
    check_counts(threshold, total)?;
    if coefficients.len() != threshold as usize {
        return Err(KeysetError::WrongCoefficientCount {
            expected: threshold,
            got: coefficients.len(),
        });
    }
    if aux_seeds.len() != total as usize {
        return Err(KeysetError::WrongSeedCount {
            expected: total,
            got: aux_seeds.len(),
        });
    }
    let coeffs: Zeroizing<Vec<Scalar>> = Zeroizing::new(
        coefficients
            .iter()
            .map(|c| {
                use k256::elliptic_curve::ops::Reduce;
                <Scalar as Reduce<k256::U256>>::reduce_bytes(&(*c).into())
            })
            .collect(),
    );
    let a0 = SecretScalar::from_bytes_reduced(&coefficients[0]).ok_or(KeysetError::ZeroSecret)?;

    let mut commits = Vec::with_capacity(total as usize);
    let mut shares = Vec::with_capacity(total as usize);
    for (idx, seed) in (1..=total).zip(aux_seeds) {
        let x = Scalar::from(u64::from(idx));
        // Horner's rule from the highest coefficient down.
        let mut fx = Zeroizing::new(Scalar::ZERO);
        for a in coeffs.iter().rev() {
            *fx = *fx * x + a;
        }
        let seckey_bytes: Zeroizing<[u8; 32]> = Zeroizing::new(fx.to_bytes().into());
        let degenerate = KeysetError::DegenerateShare { idx };
        let seckey = SecretScalar::from_bytes(&seckey_bytes).ok_or(degenerate.clone())?;
        let mut hidden = derive_nonce(&seed[..16], &seckey_bytes);
        let mut binder = derive_nonce(&seed[16..32], &seckey_bytes);
        let hidden_sn = SecretScalar::from_bytes(&hidden.to_bytes().into());
        let binder_sn = SecretScalar::from_bytes(&binder.to_bytes().into());
        hidden.zeroize();
        binder.zeroize();
        let (hidden_sn, binder_sn) = match (hidden_sn, binder_sn) {
            (Some(h), Some(b)) => (h, b),
            _ => return Err(degenerate),
        };
        commits.push(Commit {
            idx,
            pubkey: seckey.public_key(),
            hidden_pn: hidden_sn.public_key(),
            binder_pn: binder_sn.public_key(),
        });
        shares.push(SharePackage {
            idx,
            seckey,
            binder_sn,
            hidden_sn,
        });
    }
    Ok(Keyset {
        group: GroupPackage {
            group_pk: a0.public_key(),
            threshold,
            commits,
        },
        shares,
    })
}

/// Deals a fresh t-of-n keyset. With `secret` (an nsec being split) it becomes a0, otherwise
/// a0 is random. Draw order follows bifrost/igloo-core (a0 if random, a1…a_{t-1}, then one
/// 64-byte nonce seed per share), so a recorded random stream reproduces their output.
pub fn generate<R: RngCore + CryptoRng>(
    rng: &mut R,
    threshold: u32,
    total: u32,
    secret: Option<&SecretScalar>,
) -> Result<Keyset, KeysetError> {
    check_counts(threshold, total)?;
    let mut coefficients: Zeroizing<Vec<[u8; 32]>> =
        Zeroizing::new(Vec::with_capacity(threshold as usize));
    match secret {
        Some(s) => coefficients.push(*s.to_bytes()),
        None => {
            let mut a0 = [0u8; 32];
            rng.fill_bytes(&mut a0);
            coefficients.push(a0);
            a0.zeroize();
        }
    }
    for _ in 1..threshold {
        let mut a = [0u8; 32];
        rng.fill_bytes(&mut a);
        coefficients.push(a);
        a.zeroize();
    }
    let mut seeds: Zeroizing<Vec<[u8; 64]>> = Zeroizing::new(vec![[0u8; 64]; total as usize]);
    for s in seeds.iter_mut() {
        rng.fill_bytes(s);
    }
    split_with(threshold, total, &coefficients, &seeds)
}
