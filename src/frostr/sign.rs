//! FROST signing, bifrost v1 flavour (spec §7): per-session nonces from static nonces plus a
//! public offset, RFC 9591 binding factors, BIP-340 challenge and parities, x-only tweak
//! chain, strict partial verification and aggregation into a 64-byte BIP-340 signature.
//!
//! Both roles go through [`SigningSession`]: a responder calls [`SigningSession::sign`] for
//! its share; a requester also signs its own part, checks each peer's [`PsigPackage`] with
//! [`SigningSession::verify_response`] and combines them with [`SigningSession::aggregate`].

use std::collections::HashSet;

use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::ops::{LinearCombinationExt, MulByGenerator};
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::{BatchNormalize, PrimeField};
use k256::{AffinePoint, ProjectivePoint, PublicKey, Scalar};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

use super::hash::{bip340_challenge, h1, h4, h5, scalar_reduce, sha256};
use super::poly::lagrange_at_zero;
use super::session::{Hex32, SessionError, SessionPackage, SigVector, parse_lower_hex, u256be};
use super::types::{Commit, GroupPackage, SharePackage};

/// Why signing, verifying or aggregating failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignError {
    #[error("invalid session: {0}")]
    Session(#[from] SessionError),
    #[error("member {0} of the session is not in the group")]
    MemberNotInGroup(u32),
    #[error("share {0} is not a member of this session")]
    NotAMember(u32),
    #[error("the share's key does not match commit {0} of the group")]
    ShareNotInGroup(u32),
    #[error("tweak {0} is not a valid scalar")]
    BadTweak(Hex32),
    #[error("the tweak chain produced the point at infinity")]
    TweakedKeyInfinite,
    #[error("the group commitment is the point at infinity")]
    CommitmentInfinite,
    #[error("cannot compute Lagrange coefficients for members {0:?}")]
    Lagrange(Vec<u32>),
    #[error("response is for session {got}, expected {expected}")]
    SidMismatch { expected: Hex32, got: Hex32 },
    #[error("response from member {idx} carries a public key that is not its group commit")]
    WrongPubkey { idx: u32 },
    #[error("response from member {idx} has partials for the wrong set of messages")]
    WrongSighashes { idx: u32 },
    #[error("partial signature of member {idx} for {sighash} is not a valid scalar")]
    PartialNotScalar { idx: u32, sighash: Hex32 },
    #[error("partial signature of member {idx} for {sighash} does not verify")]
    PartialInvalid { idx: u32, sighash: Hex32 },
    #[error("member {0} answered twice")]
    DuplicateResponse(u32),
    #[error("partials are missing or extra: need exactly one from each of {0:?}")]
    IncompletePartials(Vec<u32>),
}

/// The x-only tweak chain applied to the group key (§7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyContext {
    /// Untweaked group key `group_pk` as decoded.
    pub internal_key: ProjectivePoint,
    /// Tweaked group key `Q`; the signature verifies under `x(Q)`.
    pub group_pk: ProjectivePoint,
    /// `g`: +1 if `Q` has even y, else −1.
    pub parity: Scalar,
    /// Product of the parities seen before each tweak.
    pub state: Scalar,
    /// Accumulated tweak `tacc`.
    pub tweak_acc: Scalar,
    /// `Q` compressed with its real parity, computed once.
    compressed: [u8; 33],
}

impl KeyContext {
    /// Start from `group_pk` and apply every tweak in order.
    pub fn new(group_pk: &PublicKey, tweaks: &[Hex32]) -> Result<Self, SignError> {
        let internal_key = group_pk.to_projective();
        let mut q = internal_key;
        let mut state = Scalar::ONE;
        let mut tacc = Scalar::ZERO;
        for t in tweaks {
            let tau = Option::<Scalar>::from(Scalar::from_repr(t.0.into()))
                .ok_or(SignError::BadTweak(*t))?;
            let par = parity_of(&q.to_affine());
            q = q * par + ProjectivePoint::mul_by_generator(&tau);
            state *= par;
            tacc = tau + par * tacc;
        }
        if bool::from(q.is_identity()) {
            return Err(SignError::TweakedKeyInfinite);
        }
        let qa = q.to_affine();
        Ok(Self {
            internal_key,
            group_pk: q,
            parity: parity_of(&qa),
            state,
            tweak_acc: tacc,
            compressed: compress(&qa),
        })
    }

    /// `Q` compressed with its real parity (the requester's result value).
    pub fn group_pk_compressed(&self) -> [u8; 33] {
        self.compressed
    }

    /// `x(Q)`, the BIP-340 public key the aggregate signature verifies under.
    pub fn group_pk_xonly(&self) -> [u8; 32] {
        let mut x = [0u8; 32];
        x.copy_from_slice(&self.compressed[1..]);
        x
    }
}

/// +1 for even y, −1 for odd y.
fn parity_of(p: &AffinePoint) -> Scalar {
    if bool::from(p.y_is_odd()) {
        -Scalar::ONE
    } else {
        Scalar::ONE
    }
}

/// 33-byte SEC1 compressed encoding; the identity (never passed here) encodes as zeros.
pub fn compress(p: &AffinePoint) -> [u8; 33] {
    let ep = p.to_encoded_point(true);
    let mut out = [0u8; 33];
    if ep.as_bytes().len() == 33 {
        out.copy_from_slice(ep.as_bytes());
    }
    out
}

fn x_bytes(p: &AffinePoint) -> [u8; 32] {
    p.x().into()
}

/// Public nonce offset of member `idx` for one vector (§7.1):
/// `t_i = SHA256(sid ‖ u32be(idx) ‖ concat(vector))`.
pub fn bind_hash(sid: &[u8; 32], idx: u32, vector: &SigVector) -> [u8; 32] {
    sha256(&[sid, &idx.to_be_bytes(), &vector.concat()])
}

/// A member's secret session nonces `d' = hidden_sn + t`, `e' = binder_sn + t`.
pub struct SessionNonces {
    pub hidden: Zeroizing<Scalar>,
    pub binder: Zeroizing<Scalar>,
}

impl std::fmt::Debug for SessionNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionNonces(<redacted>)")
    }
}

impl SessionNonces {
    pub fn derive(share: &SharePackage, sid: &[u8; 32], vector: &SigVector) -> Self {
        let t = scalar_reduce(&bind_hash(sid, share.idx, vector));
        Self {
            hidden: Zeroizing::new(share.hidden_sn.scalar() + t),
            binder: Zeroizing::new(share.binder_sn.scalar() + t),
        }
    }
}

/// Everything public about one member in one sighash context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberContext {
    pub idx: u32,
    pub bind_hash: [u8; 32],
    /// Session hiding nonce commitment `D_i = hidden_pn + t_i·G`.
    pub hidden_pn: AffinePoint,
    /// Session binding nonce commitment `E_i = binder_pn + t_i·G`.
    pub binder_pn: AffinePoint,
    /// Binding factor `rho_i`.
    pub binding_factor: Scalar,
    /// Lagrange coefficient at zero over the session members.
    pub lagrange: Scalar,
    /// Share public key `X_i` from the group commit.
    pub pubkey: ProjectivePoint,
}

/// All public values for signing one vector of a session (§7.3–7.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SighashContext {
    pub vector: SigVector,
    pub key: KeyContext,
    /// RFC commitment-list encoding over members sorted numerically.
    pub commit_list: Vec<u8>,
    /// `compressed(Q) ‖ H4(sighash) ‖ H5(commit_list)`.
    pub rho_prefix: Vec<u8>,
    /// Members sorted numerically.
    pub members: Vec<MemberContext>,
    /// Group commitment `R`.
    pub group_commitment: AffinePoint,
    /// `r`: +1 if `R` has even y, else −1.
    pub r_sign: Scalar,
    /// BIP-340 challenge `c`.
    pub challenge: Scalar,
}

fn find_commit(group: &GroupPackage, idx: u32) -> Result<&Commit, SignError> {
    group
        .commits
        .iter()
        .find(|c| c.idx == idx)
        .ok_or(SignError::MemberNotInGroup(idx))
}

impl SighashContext {
    /// Build the context of `vector` for session `sid` with `members` (any order; the
    /// commitment list is sorted numerically, Lagrange is order-independent).
    pub fn new(
        group: &GroupPackage,
        sid: &[u8; 32],
        members: &[u32],
        vector: &SigVector,
    ) -> Result<Self, SignError> {
        let key = KeyContext::new(&group.group_pk, &vector.tweaks)?;
        let mut sorted = members.to_vec();
        sorted.sort_unstable();

        // Session nonce commitments D_i, E_i, normalised together (one inversion).
        let mut bind_hashes = Vec::with_capacity(sorted.len());
        let mut proj = Vec::with_capacity(2 * sorted.len());
        let mut commits = Vec::with_capacity(sorted.len());
        for &idx in &sorted {
            let c = find_commit(group, idx)?;
            let bh = bind_hash(sid, idx, vector);
            let tg = ProjectivePoint::mul_by_generator(&scalar_reduce(&bh));
            proj.push(c.hidden_pn.to_projective() + tg);
            proj.push(c.binder_pn.to_projective() + tg);
            bind_hashes.push(bh);
            commits.push(c);
        }
        let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&proj);

        let mut commit_list = Vec::with_capacity(sorted.len() * 98);
        for (k, &idx) in sorted.iter().enumerate() {
            commit_list.extend_from_slice(&u256be(idx));
            commit_list.extend_from_slice(&compress(&affine[2 * k]));
            commit_list.extend_from_slice(&compress(&affine[2 * k + 1]));
        }
        let mut rho_prefix = Vec::with_capacity(33 + 64);
        rho_prefix.extend_from_slice(&key.group_pk_compressed());
        rho_prefix.extend_from_slice(&h4(&vector.sighash.0));
        rho_prefix.extend_from_slice(&h5(&commit_list));

        // R = Σ D_i + Σ rho_i·E_i as one multi-scalar multiplication.
        let mut d_sum = ProjectivePoint::IDENTITY;
        let mut terms = Vec::with_capacity(sorted.len());
        let mut out = Vec::with_capacity(sorted.len());
        for (k, &idx) in sorted.iter().enumerate() {
            let rho = h1(&[&rho_prefix, &u256be(idx)]);
            let d = affine[2 * k];
            let e = affine[2 * k + 1];
            d_sum += d;
            terms.push((ProjectivePoint::from(e), rho));
            let lagrange = lagrange_at_zero(idx, members)
                .ok_or_else(|| SignError::Lagrange(members.to_vec()))?;
            out.push(MemberContext {
                idx,
                bind_hash: bind_hashes[k],
                hidden_pn: d,
                binder_pn: e,
                binding_factor: rho,
                lagrange,
                pubkey: commits[k].pubkey.to_projective(),
            });
        }
        let r = d_sum
            + <ProjectivePoint as LinearCombinationExt<[(ProjectivePoint, Scalar)]>>::lincomb_ext(
                &terms,
            );
        if bool::from(r.is_identity()) {
            return Err(SignError::CommitmentInfinite);
        }
        let r = r.to_affine();
        let challenge = bip340_challenge(&x_bytes(&r), &key.group_pk_xonly(), &vector.sighash.0);
        Ok(Self {
            vector: vector.clone(),
            key,
            commit_list,
            rho_prefix,
            members: out,
            r_sign: parity_of(&r),
            group_commitment: r,
            challenge,
        })
    }

    pub fn member(&self, idx: u32) -> Option<&MemberContext> {
        self.members.iter().find(|m| m.idx == idx)
    }

    /// Partial signature of `share` (§7.5):
    /// `z_i = r·(d' + rho·e') + c·λ·(g·state)·x_i`.
    pub fn partial_sign(&self, share: &SharePackage, sid: &[u8; 32]) -> Result<Scalar, SignError> {
        let m = self
            .member(share.idx)
            .ok_or(SignError::NotAMember(share.idx))?;
        let nonces = SessionNonces::derive(share, sid, &self.vector);
        let nonce = Zeroizing::new(*nonces.hidden + m.binding_factor * *nonces.binder);
        let key_term = Zeroizing::new(
            self.challenge * m.lagrange * self.key.parity * self.key.state * share.seckey.scalar(),
        );
        Ok(self.r_sign * *nonce + *key_term)
    }

    /// Strict check of a partial (§7.6) on full points:
    /// `z·G == r·(D + rho·E) + c·λ·g·state·X`.
    pub fn verify_partial(&self, idx: u32, z: &Scalar) -> Result<(), SignError> {
        let m = self.member(idx).ok_or(SignError::NotAMember(idx))?;
        let k = self.challenge * m.lagrange * self.key.parity * self.key.state;
        let diff = ProjectivePoint::lincomb_ext(&[
            (ProjectivePoint::from(m.hidden_pn), self.r_sign),
            (
                ProjectivePoint::from(m.binder_pn),
                self.r_sign * m.binding_factor,
            ),
            (m.pubkey, k),
            (ProjectivePoint::GENERATOR, -*z),
        ]);
        if bool::from(diff.is_identity()) {
            Ok(())
        } else {
            Err(SignError::PartialInvalid {
                idx,
                sighash: self.vector.sighash,
            })
        }
    }

    /// Sum partials into the BIP-340 signature (§7.7); needs exactly one partial per member.
    /// Does not verify the partials (see [`Self::verify_partial`]).
    pub fn aggregate(&self, partials: &[(u32, Scalar)]) -> Result<[u8; 64], SignError> {
        let need: HashSet<u32> = self.members.iter().map(|m| m.idx).collect();
        let got: HashSet<u32> = partials.iter().map(|(i, _)| *i).collect();
        if need != got || partials.len() != need.len() {
            return Err(SignError::IncompletePartials(
                self.members.iter().map(|m| m.idx).collect(),
            ));
        }
        let mut z = self.challenge * self.key.parity * self.key.tweak_acc;
        for (_, zi) in partials {
            z += zi;
        }
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&x_bytes(&self.group_commitment));
        sig[32..].copy_from_slice(&z.to_bytes());
        Ok(sig)
    }
}

/// A 33-byte compressed point travelling as 66 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexPoint(pub [u8; 33]);

impl HexPoint {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// Strict: 66 lower-case hex characters of a valid compressed point.
    pub fn parse(s: &str) -> Option<Self> {
        let b = parse_lower_hex::<33>(s)?;
        PublicKey::from_sec1_bytes(&b).ok()?;
        if b[0] != 2 && b[0] != 3 {
            return None;
        }
        Some(Self(b))
    }
    pub fn to_public_key(&self) -> Option<PublicKey> {
        PublicKey::from_sec1_bytes(&self.0).ok()
    }
    pub fn from_public_key(pk: &PublicKey) -> Self {
        Self(compress(&pk.as_affine().to_owned()))
    }
}

impl std::fmt::Debug for HexPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for HexPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for HexPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        HexPoint::parse(&s)
            .ok_or_else(|| de::Error::custom("expected a 66-hex compressed secp256k1 point"))
    }
}

/// The `/sign/res` payload: one member's partials for every sighash of a session.
/// Field order matches bifrost's JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsigPackage {
    pub idx: u32,
    /// `[sighash, psig]` pairs in session order.
    pub psigs: Vec<(Hex32, Hex32)>,
    pub pubkey: HexPoint,
    pub sid: Hex32,
}

impl PsigPackage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One signed message on the requester side: `[sighash, tweaked group key, signature]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureEntry {
    pub sighash: [u8; 32],
    pub group_pk: [u8; 33],
    pub signature: [u8; 64],
}

/// A session with every per-sighash context computed once, usable by both roles.
#[derive(Clone, Debug)]
pub struct SigningSession {
    package: SessionPackage,
    contexts: Vec<SighashContext>,
}

impl SigningSession {
    /// Validate the package structure and compute each sighash context. Does not check
    /// `gid`/`sid` (JS responders do not); a requester builds the package itself.
    pub fn new(group: &GroupPackage, package: SessionPackage) -> Result<Self, SignError> {
        package.validate()?;
        for &m in &package.members {
            find_commit(group, m)?;
        }
        let contexts = package
            .hashes
            .iter()
            .map(|v| SighashContext::new(group, &package.sid.0, &package.members, v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { package, contexts })
    }

    pub fn package(&self) -> &SessionPackage {
        &self.package
    }

    pub fn contexts(&self) -> &[SighashContext] {
        &self.contexts
    }

    /// Partials of `share` for every sighash (responder, or the requester's own part).
    /// Checks that the share is a session member and that its key is its group commit.
    pub fn sign(
        &self,
        group: &GroupPackage,
        share: &SharePackage,
    ) -> Result<PsigPackage, SignError> {
        if !self.package.members.contains(&share.idx) {
            return Err(SignError::NotAMember(share.idx));
        }
        let commit = find_commit(group, share.idx)?;
        let pubkey = share.seckey.public_key();
        if pubkey != commit.pubkey {
            return Err(SignError::ShareNotInGroup(share.idx));
        }
        let sid = self.package.sid.0;
        let psigs = self
            .contexts
            .iter()
            .map(|ctx| {
                let z = ctx.partial_sign(share, &sid)?;
                Ok((ctx.vector.sighash, Hex32(z.to_bytes().into())))
            })
            .collect::<Result<Vec<_>, SignError>>()?;
        Ok(PsigPackage {
            idx: share.idx,
            psigs,
            pubkey: HexPoint::from_public_key(&pubkey),
            sid: self.package.sid,
        })
    }

    /// Requester check of one response: same sid, a session member whose pubkey is its
    /// group commit, exactly one partial per sighash, each verifying on full points.
    /// Returns the partials in session order.
    pub fn verify_response(&self, pkg: &PsigPackage) -> Result<Vec<Scalar>, SignError> {
        if pkg.sid != self.package.sid {
            return Err(SignError::SidMismatch {
                expected: self.package.sid,
                got: pkg.sid,
            });
        }
        let first = self.contexts.first().ok_or(SessionError::NoHashes)?;
        let member = first
            .member(pkg.idx)
            .ok_or(SignError::NotAMember(pkg.idx))?;
        if pkg.pubkey.to_public_key().map(|p| p.to_projective()) != Some(member.pubkey) {
            return Err(SignError::WrongPubkey { idx: pkg.idx });
        }
        if pkg.psigs.len() != self.contexts.len() {
            return Err(SignError::WrongSighashes { idx: pkg.idx });
        }
        let mut out = Vec::with_capacity(self.contexts.len());
        for ctx in &self.contexts {
            let sighash = ctx.vector.sighash;
            let mut found = pkg.psigs.iter().filter(|(h, _)| *h == sighash);
            let (Some((_, psig)), None) = (found.next(), found.next()) else {
                return Err(SignError::WrongSighashes { idx: pkg.idx });
            };
            let z = Option::<Scalar>::from(Scalar::from_repr(psig.0.into())).ok_or(
                SignError::PartialNotScalar {
                    idx: pkg.idx,
                    sighash,
                },
            )?;
            ctx.verify_partial(pkg.idx, &z)?;
            out.push(z);
        }
        Ok(out)
    }

    /// Verify every package (own included) and aggregate one signature per sighash.
    /// Needs exactly one package from each member.
    pub fn aggregate(&self, pkgs: &[PsigPackage]) -> Result<Vec<SignatureEntry>, SignError> {
        let mut seen = HashSet::with_capacity(pkgs.len());
        let mut per_member = Vec::with_capacity(pkgs.len());
        for pkg in pkgs {
            if !seen.insert(pkg.idx) {
                return Err(SignError::DuplicateResponse(pkg.idx));
            }
            per_member.push((pkg.idx, self.verify_response(pkg)?));
        }
        self.contexts
            .iter()
            .enumerate()
            .map(|(k, ctx)| {
                let partials: Vec<(u32, Scalar)> =
                    per_member.iter().map(|(idx, zs)| (*idx, zs[k])).collect();
                Ok(SignatureEntry {
                    sighash: ctx.vector.sighash.0,
                    group_pk: ctx.key.group_pk_compressed(),
                    signature: ctx.aggregate(&partials)?,
                })
            })
            .collect()
    }
}

/// Responder convenience: accept a `/sign/req` session and produce the `/sign/res` package.
pub fn sign_session(
    group: &GroupPackage,
    share: &SharePackage,
    session: SessionPackage,
) -> Result<PsigPackage, SignError> {
    SigningSession::new(group, session)?.sign(group, share)
}
