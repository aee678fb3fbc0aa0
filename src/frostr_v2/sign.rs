//! FROST(secp256k1, SHA-256)-TR signing sessions (§4.7, §4.8) with the official
//! `frost-secp256k1-tr` crate: plain `round2::sign`/`aggregate`, no taptweak, even-y group key.
//!
//! Responder: [`validate_request`] → caller spends the returned codes in its
//! [`PeerPool`](super::nonces::PeerPool) and persists that → [`respond`].
//! Requester: [`SignRound::start`] → send [`SignRound::request`] → [`SignRound::accept`] each
//! response → signatures when all partials are in.

use std::collections::BTreeMap;

use frost::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost::round1::{SigningCommitments, SigningNonces};
use frost::round2::SignatureShare;
use frost::{Identifier, SigningPackage, VerifyingKey};
use frost_secp256k1_tr as frost;
use k256::{ProjectivePoint, Scalar};
use rand::{CryptoRng, RngCore};

use super::envelope::{
    AdvertisedNonce, MAX_HASHES, MemberNonces, NonceEntry, PartialSig, SignResponse, SignSession,
};
use super::ids;
use super::nonces::{self, PoolError, SpentNonces};
use super::receive::{self, ReceiveError};
use super::types::{GroupError, GroupPackage, ShareSecret, lift_x};

/// Session kind bifrost-rs uses for plain message signing.
pub const KIND_MESSAGE: &str = "message";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("the group's member keys do not add up to its group key")]
    Inconsistent,
    #[error("group id does not match our group")]
    GroupId,
    #[error("session id does not match the session contents")]
    SessionId,
    #[error(transparent)]
    Members(#[from] ReceiveError),
    #[error("session has no hashes or more than {MAX_HASHES}")]
    Hashes,
    #[error("nonces are missing, duplicated or do not match the session's members and hashes")]
    Nonces,
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("spent nonces do not belong to this session")]
    WrongClaim,
    #[error("not enough sign-ready peers: need {need}, have {have}")]
    NotEnoughPeers { need: usize, have: usize },
    #[error("response is not from a member of this round, or came twice")]
    UnexpectedResponder,
    #[error("response does not carry exactly one valid partial per hash")]
    BadResponse,
    #[error("a partial signature does not verify")]
    BadPartial,
    #[error("signing failed: {0}")]
    Frost(String),
    #[error("the aggregated signature does not verify under the group key")]
    BadSignature,
}

fn frost_err(e: frost::Error) -> SignError {
    SignError::Frost(e.to_string())
}

fn identifier(idx: u16) -> Result<Identifier, SignError> {
    Identifier::try_from(idx).map_err(frost_err)
}

/// Our share in FROST form, with the group's public key package and gid.
pub struct SignerKey {
    idx: u16,
    key_package: KeyPackage,
    public: PublicKeyPackage,
    group: GroupPackage,
    gid: [u8; 32],
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey")
            .field("idx", &self.idx)
            .finish_non_exhaustive()
    }
}

impl SignerKey {
    /// Check that the share belongs to the group (exact compressed key) and that the
    /// member keys interpolate to the group key, then build the FROST packages.
    pub fn new(group: &GroupPackage, share: &ShareSecret) -> Result<Self, SignError> {
        group.validate()?;
        let me = group.member(share.idx).ok_or(GroupError::NotMember)?;
        if me.pubkey != share.pubkey() {
            return Err(GroupError::NotMember.into());
        }
        check_consistent(group)?;
        let mut vk_bytes = [0u8; 33];
        vk_bytes[0] = 0x02;
        vk_bytes[1..].copy_from_slice(&group.group_pk);
        let verifying_key = VerifyingKey::deserialize(&vk_bytes).map_err(frost_err)?;
        let mut shares = BTreeMap::new();
        for m in &group.members {
            let vs = VerifyingShare::deserialize(&m.pubkey).map_err(frost_err)?;
            shares.insert(identifier(m.idx)?, vs);
        }
        let signing_share =
            SigningShare::deserialize(share.secret.to_bytes().as_slice()).map_err(frost_err)?;
        let id = identifier(share.idx)?;
        let own_vs = *shares.get(&id).ok_or(GroupError::NotMember)?;
        let key_package =
            KeyPackage::new(id, signing_share, own_vs, verifying_key, group.threshold);
        let public = PublicKeyPackage::new(shares, verifying_key, Some(group.threshold));
        Ok(Self {
            idx: share.idx,
            key_package,
            public,
            gid: ids::group_id(group),
            group: group.clone(),
        })
    }

    pub fn idx(&self) -> u16 {
        self.idx
    }
    pub fn group(&self) -> &GroupPackage {
        &self.group
    }
    pub fn gid(&self) -> [u8; 32] {
        self.gid
    }
    pub fn signing_share(&self) -> &SigningShare {
        self.key_package.signing_share()
    }
    /// Our x-only public key.
    pub fn peer_id(&self) -> [u8; 32] {
        self.group
            .member(self.idx)
            .map(|m| m.peer_id())
            .unwrap_or_default()
    }
}

/// λ_i(x) over `base`: the Lagrange basis polynomial of member `i` evaluated at `x`.
fn lagrange_at(i: u16, x: u16, base: &[u16]) -> Option<Scalar> {
    let (xi, xx) = (Scalar::from(u32::from(i)), Scalar::from(u32::from(x)));
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for k in base.iter().filter(|k| **k != i) {
        let xk = Scalar::from(u32::from(*k));
        num *= xx - xk;
        den *= xi - xk;
    }
    Option::<Scalar>::from(den.invert()).map(|d| num * d)
}

/// The member keys must lie on one polynomial of degree t − 1 whose value at 0 is the group
/// key: interpolate from the first t members to 0 and to every other member.
fn check_consistent(group: &GroupPackage) -> Result<(), SignError> {
    let point = |idx: u16| -> Result<ProjectivePoint, SignError> {
        let m = group.member(idx).ok_or(SignError::Inconsistent)?;
        let p = k256::PublicKey::from_sec1_bytes(&m.pubkey).map_err(|_| SignError::Inconsistent)?;
        Ok(p.to_projective())
    };
    let sorted = group.sorted_members();
    let base: Vec<u16> = sorted
        .iter()
        .take(group.threshold.into())
        .map(|m| m.idx)
        .collect();
    let base_points = base
        .iter()
        .map(|i| point(*i))
        .collect::<Result<Vec<_>, _>>()?;
    let eval = |x: u16| -> Result<ProjectivePoint, SignError> {
        let mut sum = ProjectivePoint::IDENTITY;
        for (i, p) in base.iter().zip(&base_points) {
            sum += *p * lagrange_at(*i, x, &base).ok_or(SignError::Inconsistent)?;
        }
        Ok(sum)
    };
    let group_point = lift_x(&group.group_pk).ok_or(GroupError::GroupKey)?;
    if eval(0)? != group_point.to_projective() {
        return Err(SignError::Inconsistent);
    }
    for m in sorted.iter().skip(base.len()) {
        if eval(m.idx)? != point(m.idx)? {
            return Err(SignError::Inconsistent);
        }
    }
    Ok(())
}

/// One member's public nonce commitment for one message: `(idx, hidden_pn, binder_pn)`.
pub type Commitment = (u16, [u8; 33], [u8; 33]);

fn package_of(commitments: &[Commitment], message: &[u8]) -> Result<SigningPackage, SignError> {
    let mut map = BTreeMap::new();
    for (idx, hidden, binder) in commitments {
        let c = nonces::commitments_from(hidden, binder)?;
        if map.insert(identifier(*idx)?, c).is_some() {
            return Err(SignError::Nonces);
        }
    }
    Ok(SigningPackage::new(map, message))
}

/// The commitments of every member for hash `h` of a session.
fn session_commitments(session: &SignSession, h: usize) -> Result<Vec<Commitment>, SignError> {
    session
        .nonces
        .iter()
        .map(|m| {
            let e = m
                .entries
                .iter()
                .find(|e| usize::from(e.hash_index) == h)
                .ok_or(SignError::Nonces)?;
            Ok((m.idx, e.hidden_pn, e.binder_pn))
        })
        .collect()
}

fn signing_package(session: &SignSession, h: usize) -> Result<SigningPackage, SignError> {
    let msg = session.hashes.get(h).ok_or(SignError::Hashes)?;
    package_of(&session_commitments(session, h)?, msg)
}

/// The FROST-TR partial signature of `key` over `message` with `nonces`, given every
/// signer's commitments. The primitive under [`respond`] and [`SignRound::start`]; public
/// so the official test vectors can drive it.
pub fn partial_sign(
    key: &SignerKey,
    commitments: &[Commitment],
    message: &[u8],
    nonces: &SigningNonces,
) -> Result<[u8; 32], SignError> {
    let pkg = package_of(commitments, message)?;
    let share = frost::round2::sign(&pkg, nonces, &key.key_package).map_err(frost_err)?;
    share_bytes(&share)
}

/// Verify every partial and aggregate them into a BIP-340 signature under the group key.
pub fn aggregate_partials(
    key: &SignerKey,
    commitments: &[Commitment],
    message: &[u8],
    partials: &[(u16, [u8; 32])],
) -> Result<[u8; 64], SignError> {
    let pkg = package_of(commitments, message)?;
    let mut shares = BTreeMap::new();
    for (idx, p) in partials {
        let id = identifier(*idx)?;
        let share = SignatureShare::deserialize(p).map_err(|_| SignError::BadPartial)?;
        let vs = key
            .public
            .verifying_shares()
            .get(&id)
            .ok_or(SignError::UnexpectedResponder)?;
        frost_core::verify_signature_share(id, vs, &share, &pkg, key.public.verifying_key())
            .map_err(|_| SignError::BadPartial)?;
        shares.insert(id, share);
    }
    aggregate_package(&key.public, &pkg, &shares)
}

fn aggregate_package(
    public: &PublicKeyPackage,
    pkg: &SigningPackage,
    shares: &BTreeMap<Identifier, SignatureShare>,
) -> Result<[u8; 64], SignError> {
    let sig = frost::aggregate(pkg, shares, public).map_err(frost_err)?;
    let bytes: [u8; 64] = sig
        .serialize()
        .map_err(frost_err)?
        .try_into()
        .map_err(|_| SignError::BadSignature)?;
    verify_bip340(public, pkg.message(), &bytes)?;
    Ok(bytes)
}

/// Structure shared by both sides: gid, canonical members, sid, one nonce set per member
/// (sorted by idx) with exactly one entry per hash index.
fn check_session(key: &SignerKey, s: &SignSession, required: &[u16]) -> Result<(), SignError> {
    if s.gid != key.gid {
        return Err(SignError::GroupId);
    }
    receive::check_members(&s.members, &key.group, required)?;
    if s.hashes.is_empty() || s.hashes.len() > MAX_HASHES {
        return Err(SignError::Hashes);
    }
    let sid = ids::session_id(
        &s.gid,
        &s.members,
        &s.hashes,
        s.content.as_deref(),
        &s.kind,
        s.stamp,
    );
    if sid != s.sid {
        return Err(SignError::SessionId);
    }
    let idxs: Vec<u16> = s.nonces.iter().map(|m| m.idx).collect();
    if idxs != s.members {
        return Err(SignError::Nonces);
    }
    for m in &s.nonces {
        if m.entries.len() != s.hashes.len() {
            return Err(SignError::Nonces);
        }
        let mut seen = vec![false; s.hashes.len()];
        for e in &m.entries {
            match seen.get_mut(usize::from(e.hash_index)) {
                Some(slot) if !*slot => *slot = true,
                _ => return Err(SignError::Nonces),
            }
        }
    }
    Ok(())
}

fn own_entries(s: &SignSession, idx: u16) -> Result<Vec<&NonceEntry>, SignError> {
    let m = s
        .nonces
        .iter()
        .find(|m| m.idx == idx)
        .ok_or(SignError::Nonces)?;
    let mut v: Vec<&NonceEntry> = m.entries.iter().collect();
    v.sort_by_key(|e| e.hash_index);
    Ok(v)
}

/// Responder checks of §4.7 (everything before the nonce claim). Returns our nonce codes
/// in hash order: spend them with `pool.spend(&codes)`, persist, then call [`respond`].
pub fn validate_request(
    key: &SignerKey,
    sender_idx: u16,
    s: &SignSession,
) -> Result<Vec<[u8; 32]>, SignError> {
    check_session(key, s, &[key.idx, sender_idx])?;
    Ok(own_entries(s, key.idx)?.iter().map(|e| e.code).collect())
}

/// Produce our partial signatures with nonces already spent (and persisted) by the caller.
/// `replenish` is left `None`; the node fills it from the pool's advertisement rule.
pub fn respond(
    key: &SignerKey,
    s: &SignSession,
    spent: SpentNonces,
) -> Result<SignResponse, SignError> {
    let entries = own_entries(s, key.idx)?;
    let codes: Vec<[u8; 32]> = entries.iter().map(|e| e.code).collect();
    if codes != spent.codes || spent.nonces.len() != entries.len() {
        return Err(SignError::WrongClaim);
    }
    let mut psigs = Vec::with_capacity(entries.len());
    for (e, nonces) in entries.iter().zip(spent.nonces.iter()) {
        let h = usize::from(e.hash_index);
        let sighash = *s.hashes.get(h).ok_or(SignError::Hashes)?;
        let partial_sig = partial_sign(key, &session_commitments(s, h)?, &sighash, nonces)?;
        psigs.push(PartialSig {
            hash_index: e.hash_index,
            sighash,
            partial_sig,
        });
    }
    Ok(SignResponse {
        idx: key.idx,
        sid: s.sid,
        pubkey: key.peer_id(),
        psigs,
        nonce_code: None,
        replenish: None,
    })
}

fn share_bytes(s: &SignatureShare) -> Result<[u8; 32], SignError> {
    s.serialize().try_into().map_err(|_| SignError::BadPartial)
}

/// A sign round we started: our own partials are computed at start; peers' are added as
/// their responses arrive.
pub struct SignRound {
    session: SignSession,
    peers: Vec<u16>,
    packages: Vec<SigningPackage>,
    shares: Vec<BTreeMap<Identifier, SignatureShare>>,
    public: PublicKeyPackage,
}

impl std::fmt::Debug for SignRound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignRound")
            .field("sid", &hex::encode(self.session.sid))
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

impl SignRound {
    /// Start a session over `hashes` with `peers`: each entry is a peer index and one of its
    /// advertised nonces per hash (taken from its pool). Needs `threshold − 1` peers.
    pub fn start<R: RngCore + CryptoRng>(
        key: &SignerKey,
        peers: Vec<(u16, Vec<AdvertisedNonce>)>,
        hashes: Vec<[u8; 32]>,
        stamp: u32,
        rng: &mut R,
    ) -> Result<Self, SignError> {
        let need = usize::from(key.group.threshold).saturating_sub(1);
        if peers.len() < need {
            return Err(SignError::NotEnoughPeers {
                need,
                have: peers.len(),
            });
        }
        if hashes.is_empty() || hashes.len() > MAX_HASHES {
            return Err(SignError::Hashes);
        }
        let mut own_nonces: Vec<SigningNonces> = Vec::with_capacity(hashes.len());
        let mut sets: BTreeMap<u16, Vec<NonceEntry>> = BTreeMap::new();
        let mut own_entries = Vec::with_capacity(hashes.len());
        for h in 0..hashes.len() {
            let (n, c): (SigningNonces, SigningCommitments) =
                nonces::fresh_nonce(key.signing_share(), rng);
            let mut code = [0u8; 32];
            rng.fill_bytes(&mut code);
            let p = nonces::public_of(&c, code).ok_or(SignError::Nonces)?;
            own_entries.push(entry(h, &p)?);
            own_nonces.push(n);
        }
        sets.insert(key.idx, own_entries);
        let mut peer_idxs = Vec::new();
        for (idx, ns) in &peers {
            if ns.len() != hashes.len()
                || sets.contains_key(idx)
                || key.group.member(*idx).is_none()
            {
                return Err(SignError::Nonces);
            }
            let v = ns
                .iter()
                .enumerate()
                .map(|(h, n)| entry(h, n))
                .collect::<Result<Vec<_>, _>>()?;
            sets.insert(*idx, v);
            peer_idxs.push(*idx);
        }
        peer_idxs.sort_unstable();
        let members: Vec<u16> = sets.keys().copied().collect();
        let gid = key.gid;
        let sid = ids::session_id(&gid, &members, &hashes, None, KIND_MESSAGE, stamp);
        let session = SignSession {
            gid,
            sid,
            members,
            hashes,
            content: None,
            kind: KIND_MESSAGE.to_owned(),
            stamp,
            nonces: sets
                .into_iter()
                .map(|(idx, entries)| MemberNonces { idx, entries })
                .collect(),
        };
        check_session(key, &session, &[key.idx])?;
        let mut packages = Vec::with_capacity(session.hashes.len());
        let mut shares = Vec::with_capacity(session.hashes.len());
        let own_id = identifier(key.idx)?;
        for (h, n) in own_nonces.iter().enumerate() {
            let pkg = signing_package(&session, h)?;
            let s = frost::round2::sign(&pkg, n, &key.key_package).map_err(frost_err)?;
            packages.push(pkg);
            shares.push(BTreeMap::from([(own_id, s)]));
        }
        Ok(Self {
            session,
            peers: peer_idxs,
            packages,
            shares,
            public: key.public.clone(),
        })
    }

    /// The `SignRequest` data to send to every peer of the round.
    pub fn request(&self) -> &SignSession {
        &self.session
    }

    /// Peers whose partials are still missing.
    pub fn pending(&self) -> Vec<u16> {
        self.peers
            .iter()
            .copied()
            .filter(|p| {
                identifier(*p)
                    .is_ok_and(|id| self.shares.first().is_some_and(|m| !m.contains_key(&id)))
            })
            .collect()
    }

    /// Check one response (§4.7 requester checks). Returns the BIP-340 signatures (one per
    /// hash, 64 bytes each) once every partial is in, `None` while waiting.
    pub fn accept(
        &mut self,
        sender_idx: u16,
        r: &SignResponse,
    ) -> Result<Option<Vec<[u8; 64]>>, SignError> {
        if r.idx != sender_idx || !self.pending().contains(&sender_idx) {
            return Err(SignError::UnexpectedResponder);
        }
        if r.sid != self.session.sid || r.psigs.len() != self.session.hashes.len() {
            return Err(SignError::BadResponse);
        }
        let id = identifier(sender_idx)?;
        let vs = *self
            .public
            .verifying_shares()
            .get(&id)
            .ok_or(SignError::UnexpectedResponder)?;
        let mut parsed: Vec<Option<SignatureShare>> = vec![None; self.session.hashes.len()];
        for p in &r.psigs {
            let h = usize::from(p.hash_index);
            if self.session.hashes.get(h) != Some(&p.sighash) {
                return Err(SignError::BadResponse);
            }
            let share =
                SignatureShare::deserialize(&p.partial_sig).map_err(|_| SignError::BadPartial)?;
            let pkg = self.packages.get(h).ok_or(SignError::BadResponse)?;
            frost_core::verify_signature_share(id, &vs, &share, pkg, self.public.verifying_key())
                .map_err(|_| SignError::BadPartial)?;
            match parsed.get_mut(h) {
                Some(slot @ None) => *slot = Some(share),
                _ => return Err(SignError::BadResponse),
            }
        }
        for (h, s) in parsed.into_iter().enumerate() {
            let s = s.ok_or(SignError::BadResponse)?;
            if let Some(m) = self.shares.get_mut(h) {
                m.insert(id, s);
            }
        }
        if !self.pending().is_empty() {
            return Ok(None);
        }
        let mut sigs = Vec::with_capacity(self.packages.len());
        for (pkg, shares) in self.packages.iter().zip(&self.shares) {
            sigs.push(aggregate_package(&self.public, pkg, shares)?);
        }
        Ok(Some(sigs))
    }
}

fn entry(h: usize, n: &AdvertisedNonce) -> Result<NonceEntry, SignError> {
    Ok(NonceEntry {
        hash_index: u16::try_from(h).map_err(|_| SignError::Hashes)?,
        binder_pn: n.binder_pn,
        hidden_pn: n.hidden_pn,
        code: n.code,
    })
}

fn verify_bip340(public: &PublicKeyPackage, msg: &[u8], sig: &[u8; 64]) -> Result<(), SignError> {
    let vk = public.verifying_key().serialize().map_err(frost_err)?;
    let x = vk.get(1..33).ok_or(SignError::BadSignature)?;
    let key = k256::schnorr::VerifyingKey::from_bytes(x).map_err(|_| SignError::BadSignature)?;
    let sig = k256::schnorr::Signature::try_from(&sig[..]).map_err(|_| SignError::BadSignature)?;
    key.verify_raw(msg, &sig)
        .map_err(|_| SignError::BadSignature)
}
