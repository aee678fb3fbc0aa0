//! Onboarding (§4.10): a device holding only a `bfonboard` (share secret, relays, the
//! inviter's peer id) fetches the group package from the inviter, and both sides leave
//! with a nonce pool for each other (sign-ready at once).

use frost_secp256k1_tr::keys::SigningShare;
use rand::{CryptoRng, RngCore};

use super::envelope::{ONBOARD_VERSION, OnboardRequest, OnboardResponse};
use super::nonces::{PeerPool, PoolError};
use super::types::{GroupError, GroupPackage, ShareSecret, compress};
use crate::frostr::SecretScalar;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnboardError {
    #[error("onboard request carries no nonces")]
    NoNonces,
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("the group does not contain the inviter")]
    InviterMissing,
    #[error("share secret is not usable")]
    Share,
}

/// Responder: store the requester's nonces, fill our pool for it to 100, and answer with
/// the group package and all our unspent nonces for it. `pool` is our pool for the sender.
pub fn respond<R: RngCore + CryptoRng>(
    group: &GroupPackage,
    share: &SigningShare,
    req: &OnboardRequest,
    pool: &mut PeerPool,
    rng: &mut R,
) -> Result<OnboardResponse, OnboardError> {
    if req.nonces.is_empty() {
        return Err(OnboardError::NoNonces);
    }
    pool.apply_remote(&req.nonces, None)?;
    Ok(OnboardResponse {
        group: group.clone(),
        nonces: pool.advertise_all(share, rng),
    })
}

/// Requester state between sending the request and the inviter's answer.
#[derive(Debug)]
pub struct Onboarding {
    secret: SecretScalar,
    inviter: [u8; 32],
    pool: PeerPool,
}

/// A finished onboarding: our share with its index, the group, the inviter's index and
/// the nonce pool shared with it.
#[derive(Debug)]
pub struct Onboarded {
    pub share: ShareSecret,
    pub group: GroupPackage,
    pub inviter_idx: u16,
    pub pool: PeerPool,
}

impl Onboarding {
    /// Prepare the `OnboardRequest`: 100 nonces made for the inviter before we know our
    /// own index (a FROST nonce depends only on the share secret).
    pub fn start<R: RngCore + CryptoRng>(
        secret: SecretScalar,
        inviter: [u8; 32],
        rng: &mut R,
    ) -> Result<(Self, OnboardRequest), OnboardError> {
        let signing = SigningShare::deserialize(secret.to_bytes().as_slice())
            .map_err(|_| OnboardError::Share)?;
        let mut pool = PeerPool::new();
        let nonces = pool.advertise_all(&signing, rng);
        Ok((
            Self {
                secret,
                inviter,
                pool,
            },
            OnboardRequest {
                version: ONBOARD_VERSION,
                nonces,
            },
        ))
    }

    /// Whom the request goes to (and the only author a response is accepted from).
    pub fn inviter(&self) -> &[u8; 32] {
        &self.inviter
    }

    /// Check the inviter's answer: a valid group containing our exact compressed key and
    /// the inviter. Then store its nonces in our pool for it.
    pub fn finish(mut self, resp: &OnboardResponse) -> Result<Onboarded, OnboardError> {
        resp.group.validate()?;
        let own = compress(&self.secret.public_key());
        let me = resp
            .group
            .members
            .iter()
            .find(|m| m.pubkey == own)
            .ok_or(GroupError::NotMember)?;
        let inviter = resp
            .group
            .member_by_peer_id(&self.inviter)
            .ok_or(OnboardError::InviterMissing)?;
        if inviter.idx == me.idx {
            return Err(OnboardError::InviterMissing);
        }
        self.pool.apply_remote(&resp.nonces, None)?;
        Ok(Onboarded {
            share: ShareSecret {
                idx: me.idx,
                secret: self.secret,
            },
            group: resp.group.clone(),
            inviter_idx: inviter.idx,
            pool: self.pool,
        })
    }
}
