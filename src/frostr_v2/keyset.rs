//! V2 keyset creation (§2.3, §4.8): ZF trusted-dealer `split` of a given secret (an nsec,
//! or the secret recovered from t v1 shares — the migration core), or of a fresh one, then
//! `into_even_y` so the group key has even y. The x-only npub is unchanged: an odd-y secret
//! is stored negated.

use frost::keys::{EvenY, IdentifierList, KeyPackage};
use frost_secp256k1_tr as frost;
use rand::{CryptoRng, RngCore};

use super::types::{GroupPackage, Member, ShareSecret};
use crate::frostr::SecretScalar;
use crate::frostr::recovery::{RecoveryError, recover_secret};

/// bifrost-rs keygen puts the identifier's last byte in `idx`, so at most 255 members.
pub const MAX_DEALER_MEMBERS: u16 = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysetError {
    #[error("threshold must be at least 1 and members between threshold and {MAX_DEALER_MEMBERS}")]
    Params,
    #[error("group name must not be empty")]
    Name,
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error("key splitting failed: {0}")]
    Frost(String),
}

/// A dealt V2 keyset: the public group package and every member's share.
#[derive(Debug, Clone)]
pub struct Keyset {
    pub group: GroupPackage,
    pub shares: Vec<ShareSecret>,
}

/// Split `secret` into a `threshold`-of-`members` V2 keyset.
pub fn split<R: RngCore + CryptoRng>(
    name: &str,
    secret: &SecretScalar,
    threshold: u16,
    members: u16,
    rng: &mut R,
) -> Result<Keyset, KeysetError> {
    if threshold == 0 || members < threshold || members > MAX_DEALER_MEMBERS {
        return Err(KeysetError::Params);
    }
    if name.is_empty() {
        return Err(KeysetError::Name);
    }
    let fe = |e: frost::Error| KeysetError::Frost(e.to_string());
    let key = frost::SigningKey::deserialize(secret.to_bytes().as_slice()).map_err(fe)?;
    let (shares, public) =
        frost::keys::split(&key, members, threshold, IdentifierList::Default, rng).map_err(fe)?;
    let public = public.into_even_y(None);
    let vk = public.verifying_key().serialize().map_err(fe)?;
    let mut group_pk = [0u8; 32];
    group_pk.copy_from_slice(vk.get(1..33).ok_or(KeysetError::Params)?);
    let mut out_members = Vec::with_capacity(shares.len());
    let mut out_shares = Vec::with_capacity(shares.len());
    for (id, ss) in shares {
        let kp = KeyPackage::try_from(ss).map_err(fe)?.into_even_y(None);
        // Default identifiers are the scalars 1..=n (32 bytes, big-endian).
        let ser = id.serialize();
        let idx = match ser.get(30..32) {
            Some([hi, lo]) if ser.iter().take(30).all(|b| *b == 0) => {
                u16::from_be_bytes([*hi, *lo])
            }
            _ => return Err(KeysetError::Params),
        };
        let pubkey: [u8; 33] = kp
            .verifying_share()
            .serialize()
            .map_err(fe)?
            .try_into()
            .map_err(|_| KeysetError::Params)?;
        let bytes = zeroize::Zeroizing::new(kp.signing_share().serialize());
        let arr: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeysetError::Params)?,
        );
        let secret = SecretScalar::from_bytes(&arr).ok_or(KeysetError::Params)?;
        out_members.push(Member { idx, pubkey });
        out_shares.push(ShareSecret { idx, secret });
    }
    let group = GroupPackage {
        group_name: name.to_owned(),
        group_pk,
        threshold,
        members: out_members,
    };
    Ok(Keyset {
        group,
        shares: out_shares,
    })
}

/// A fresh random keyset.
pub fn generate<R: RngCore + CryptoRng>(
    name: &str,
    threshold: u16,
    members: u16,
    rng: &mut R,
) -> Result<Keyset, KeysetError> {
    let secret = loop {
        let mut b = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(b.as_mut());
        if let Some(s) = SecretScalar::from_bytes(&b) {
            break s;
        }
    };
    split(name, &secret, threshold, members, rng)
}

/// Migration core: recover the secret from t v1 shares of a v1 group, then split it as a
/// V2 keyset with the same x-only npub. The v1 shares stay valid until destroyed.
pub fn from_v1_shares<R: RngCore + CryptoRng>(
    name: &str,
    v1_group: &crate::frostr::GroupPackage,
    v1_shares: &[crate::frostr::SharePackage],
    threshold: u16,
    members: u16,
    rng: &mut R,
) -> Result<Keyset, KeysetError> {
    let secret = recover_secret(v1_group, v1_shares)?;
    split(name, &secret, threshold, members, rng)
}
