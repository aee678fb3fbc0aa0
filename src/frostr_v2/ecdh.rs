//! Threshold ECDH in the fixed (main line) form (§4.9): each member sends
//! `keyshare_i = (λ_i · x_i) · lift_x(target)` with λ_i the Lagrange coefficient at 0 over
//! the round's members; the shared secret is the raw x-coordinate of the sum, i.e.
//! `x(a0 · P)`, usable directly as NIP-04 / NIP-44 `shared_x`.
//! (bifrost-rs 0.5.0 omitted λ and hashed the point; it cannot agree with this.)

use std::collections::BTreeMap;

use k256::elliptic_curve::point::AffineCoordinates;
use k256::{ProjectivePoint, PublicKey};
use zeroize::Zeroizing;

use super::envelope::{EcdhEntry, EcdhPackage, MAX_ECDH_TARGETS};
use super::receive::{self, ReceiveError};
use super::types::{GroupPackage, ShareSecret, compress, lift_x};
use crate::frostr::poly::lagrange_at_zero;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcdhError {
    #[error("target is not a valid x-only public key")]
    Target,
    #[error("keyshare is not a valid curve point")]
    Keyshare,
    #[error("member list is invalid for a Lagrange coefficient")]
    Lagrange,
    #[error(transparent)]
    Members(#[from] ReceiveError),
    #[error("package index does not match its sender")]
    Sender,
    #[error("package has no targets, more than {MAX_ECDH_TARGETS}, or repeats one")]
    Targets,
    #[error("response is not from a pending member, or does not answer every target")]
    BadResponse,
    #[error("the keyshares sum to the point at infinity")]
    Infinity,
}

/// Our λ-weighted keyshare for `target` (x-only) over `members`.
pub fn keyshare(
    share: &ShareSecret,
    members: &[u16],
    target: &[u8; 32],
) -> Result<[u8; 33], EcdhError> {
    let p = lift_x(target).ok_or(EcdhError::Target)?;
    let idxs: Vec<u32> = members.iter().map(|m| u32::from(*m)).collect();
    let l = lagrange_at_zero(u32::from(share.idx), &idxs).ok_or(EcdhError::Lagrange)?;
    let w = Zeroizing::new(l * share.secret.scalar());
    let point = p.to_projective() * *w;
    let pk = PublicKey::from_affine(point.to_affine()).map_err(|_| EcdhError::Infinity)?;
    Ok(compress(&pk))
}

/// Sum keyshares and return the raw x-coordinate (the shared secret).
pub fn combine<'a>(
    keyshares: impl IntoIterator<Item = &'a [u8; 33]>,
) -> Result<Zeroizing<[u8; 32]>, EcdhError> {
    let mut sum = ProjectivePoint::IDENTITY;
    for k in keyshares {
        sum += PublicKey::from_sec1_bytes(k)
            .map_err(|_| EcdhError::Keyshare)?
            .to_projective();
    }
    let pk = PublicKey::from_affine(sum.to_affine()).map_err(|_| EcdhError::Infinity)?;
    Ok(Zeroizing::new(pk.as_affine().x().into()))
}

fn check_targets(entries: &[EcdhEntry]) -> Result<(), EcdhError> {
    if entries.is_empty() || entries.len() > MAX_ECDH_TARGETS {
        return Err(EcdhError::Targets);
    }
    let mut seen = std::collections::HashSet::new();
    if entries.iter().any(|e| !seen.insert(e.ecdh_pk)) {
        return Err(EcdhError::Targets);
    }
    Ok(())
}

/// Our package for `targets` over `members`.
pub fn package(
    share: &ShareSecret,
    members: &[u16],
    targets: &[[u8; 32]],
) -> Result<EcdhPackage, EcdhError> {
    let entries = targets
        .iter()
        .map(|t| {
            Ok(EcdhEntry {
                ecdh_pk: *t,
                keyshare: keyshare(share, members, t)?,
            })
        })
        .collect::<Result<Vec<_>, EcdhError>>()?;
    check_targets(&entries)?;
    Ok(EcdhPackage {
        idx: share.idx,
        members: members.to_vec(),
        entries,
    })
}

/// Responder: validate an `EcdhRequest` from `sender_idx` and answer it.
pub fn respond(
    share: &ShareSecret,
    group: &GroupPackage,
    sender_idx: u16,
    req: &EcdhPackage,
) -> Result<EcdhPackage, EcdhError> {
    if req.idx != sender_idx {
        return Err(EcdhError::Sender);
    }
    receive::check_members(&req.members, group, &[share.idx, sender_idx])?;
    check_targets(&req.entries)?;
    let targets: Vec<[u8; 32]> = req.entries.iter().map(|e| e.ecdh_pk).collect();
    package(share, &req.members, &targets)
}

/// A threshold-ECDH round we started.
#[derive(Debug)]
pub struct EcdhRound {
    request: EcdhPackage,
    pending: Vec<u16>,
    /// target → keyshares received so far (ours first).
    shares: BTreeMap<[u8; 32], Vec<[u8; 33]>>,
}

impl EcdhRound {
    /// Start with `peers` (t − 1 or more other members) for `targets`.
    pub fn start(
        share: &ShareSecret,
        group: &GroupPackage,
        peers: &[u16],
        targets: &[[u8; 32]],
    ) -> Result<Self, EcdhError> {
        let mut members: Vec<u16> = peers.to_vec();
        members.push(share.idx);
        members.sort_unstable();
        receive::check_members(&members, group, &[share.idx])?;
        let request = package(share, &members, targets)?;
        let shares = request
            .entries
            .iter()
            .map(|e| (e.ecdh_pk, vec![e.keyshare]))
            .collect();
        let mut pending: Vec<u16> = peers.to_vec();
        pending.sort_unstable();
        Ok(Self {
            request,
            pending,
            shares,
        })
    }

    /// The `EcdhRequest` data to send to every peer.
    pub fn request(&self) -> &EcdhPackage {
        &self.request
    }

    /// Add a response. Returns `(target, shared_x)` for every target once all are in.
    #[allow(clippy::type_complexity)]
    pub fn accept(
        &mut self,
        sender_idx: u16,
        resp: &EcdhPackage,
    ) -> Result<Option<Vec<([u8; 32], Zeroizing<[u8; 32]>)>>, EcdhError> {
        if resp.idx != sender_idx || !self.pending.contains(&sender_idx) {
            return Err(EcdhError::BadResponse);
        }
        if resp.members != self.request.members {
            return Err(EcdhError::BadResponse);
        }
        check_targets(&resp.entries)?;
        if resp.entries.len() != self.shares.len()
            || resp
                .entries
                .iter()
                .any(|e| !self.shares.contains_key(&e.ecdh_pk))
        {
            return Err(EcdhError::BadResponse);
        }
        for e in &resp.entries {
            PublicKey::from_sec1_bytes(&e.keyshare).map_err(|_| EcdhError::Keyshare)?;
        }
        for e in &resp.entries {
            if let Some(v) = self.shares.get_mut(&e.ecdh_pk) {
                v.push(e.keyshare);
            }
        }
        self.pending.retain(|p| *p != sender_idx);
        if !self.pending.is_empty() {
            return Ok(None);
        }
        self.shares
            .iter()
            .map(|(t, ks)| Ok((*t, combine(ks.iter())?)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}
