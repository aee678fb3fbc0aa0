//! One-time nonce pools (§4.6) as a pure state machine, one [`PeerPool`] per peer.
//!
//! *Outgoing* nonces are secret FROST nonce pairs we generated for a peer and advertised to
//! it under a random code; *incoming* are public nonces a peer advertised to us. Signing
//! with an outgoing nonce goes through [`PeerPool::spend`], which removes the codes at once
//! and returns them: the caller must make that removal durable BEFORE sending the partial
//! (see [`SpentNonces`]). A spent or unknown code is refused, so a replayed request never
//! gets a second partial.

use std::collections::{BTreeMap, HashSet, VecDeque};

use frost::keys::SigningShare;
use frost::round1::{SigningCommitments, SigningNonces};
use frost_secp256k1_tr as frost;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::envelope::AdvertisedNonce;

/// Most unspent outgoing nonces per peer, and most incoming nonces held from a peer.
pub const POOL_SIZE: usize = 100;
/// Replenish when the peer holds fewer than this many of ours.
pub const MIN_THRESHOLD: usize = 20;
/// Top up to this many (min(100, 20 + 50)).
pub const TARGET: usize = 70;
/// A peer is sign-ready when we hold more than this many of its nonces.
pub const CRITICAL_THRESHOLD: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("no nonces left from this peer; ping it to exchange new ones")]
    Exhausted,
    #[error("nonce code is unknown or already spent")]
    UnknownCode,
    #[error("nonce code is used twice in one request")]
    DuplicateCode,
    #[error("advertised nonce is not a valid curve point")]
    BadNonce,
}

/// Outgoing nonces removed from the pool by [`PeerPool::spend`]. Persist [`Self::codes`]
/// as spent first; only then may the secret nonces be used to sign. Consumed by signing,
/// so one claim yields one partial. The secrets zeroize on drop.
pub struct SpentNonces {
    pub(crate) codes: Vec<[u8; 32]>,
    pub(crate) nonces: Vec<SigningNonces>,
}

impl SpentNonces {
    pub fn codes(&self) -> &[[u8; 32]] {
        &self.codes
    }
}

impl std::fmt::Debug for SpentNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpentNonces")
            .field("codes", &self.codes.len())
            .finish_non_exhaustive()
    }
}

struct Outgoing {
    nonces: SigningNonces,
    public: AdvertisedNonce,
}

/// Nonce state shared with one peer.
#[derive(Default)]
pub struct PeerPool {
    /// Unspent outgoing nonces by code, plus generation order for advertising oldest first.
    outgoing: BTreeMap<[u8; 32], Outgoing>,
    outgoing_order: VecDeque<[u8; 32]>,
    /// Outgoing codes the peer last reported holding.
    peer_holds: HashSet<[u8; 32]>,
    incoming: VecDeque<AdvertisedNonce>,
    incoming_codes: HashSet<[u8; 32]>,
    /// Codes of the peer's nonces we already used (most recent [`USED_MEMORY`]): a ping the
    /// peer prepared before our request reached it may advertise them again, and taking one
    /// twice would only earn a refusal.
    used_incoming: VecDeque<[u8; 32]>,
    used_codes: HashSet<[u8; 32]>,
    spent_count: u64,
}

/// How many used incoming codes a pool remembers (a few pools' worth covers any ping in flight).
const USED_MEMORY: usize = 4 * POOL_SIZE;

impl std::fmt::Debug for PeerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerPool")
            .field("outgoing", &self.outgoing.len())
            .field("peer_holds", &self.held_by_peer())
            .field("incoming", &self.incoming.len())
            .field("spent", &self.spent_count)
            .finish()
    }
}

/// Public commitments of an advertised nonce, checked to be curve points.
pub fn commitments_of(n: &AdvertisedNonce) -> Result<SigningCommitments, PoolError> {
    commitments_from(&n.hidden_pn, &n.binder_pn)
}

pub(crate) fn commitments_from(
    hidden: &[u8; 33],
    binder: &[u8; 33],
) -> Result<SigningCommitments, PoolError> {
    let h = frost::round1::NonceCommitment::deserialize(hidden).map_err(|_| PoolError::BadNonce)?;
    let b = frost::round1::NonceCommitment::deserialize(binder).map_err(|_| PoolError::BadNonce)?;
    Ok(SigningCommitments::new(h, b))
}

pub(crate) fn public_of(
    commitments: &SigningCommitments,
    code: [u8; 32],
) -> Option<AdvertisedNonce> {
    let h: [u8; 33] = commitments.hiding().serialize().ok()?.try_into().ok()?;
    let b: [u8; 33] = commitments.binding().serialize().ok()?.try_into().ok()?;
    Some(AdvertisedNonce {
        binder_pn: b,
        hidden_pn: h,
        code,
    })
}

impl PeerPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// Unspent outgoing nonces.
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Incoming nonces we hold from the peer.
    pub fn incoming_len(&self) -> usize {
        self.incoming.len()
    }

    /// How many of our unspent nonces the peer says it holds.
    pub fn held_by_peer(&self) -> usize {
        self.peer_holds
            .iter()
            .filter(|c| self.outgoing.contains_key(*c))
            .count()
    }

    /// Outgoing nonces spent since this pool was created.
    pub fn spent_count(&self) -> u64 {
        self.spent_count
    }

    /// Whether we can ask this peer to sign (we hold > 5 of its nonces).
    pub fn is_sign_ready(&self) -> bool {
        self.incoming.len() > CRITICAL_THRESHOLD
    }

    /// Apply a peer's ping/onboard/replenish data: store its advertised nonces (deduped by
    /// code, at most [`POOL_SIZE`]) and, if given, its inventory of our codes.
    pub fn apply_remote(
        &mut self,
        advertised: &[AdvertisedNonce],
        held_codes: Option<&[[u8; 32]]>,
    ) -> Result<(), PoolError> {
        for n in advertised {
            commitments_of(n)?;
        }
        // A full pool drops its oldest nonces, never the new ones: after the peer restarts,
        // the nonces it advertised before are stale (it refuses their codes) and only the
        // fresh ones can sign.
        for n in advertised {
            if self.used_codes.contains(&n.code) {
                continue;
            }
            if self.incoming_codes.insert(n.code) {
                if self.incoming.len() >= POOL_SIZE {
                    if let Some(old) = self.incoming.pop_front() {
                        self.incoming_codes.remove(&old.code);
                    }
                }
                self.incoming.push_back(n.clone());
            }
        }
        if let Some(held) = held_codes {
            self.peer_holds = held
                .iter()
                .filter(|c| self.outgoing.contains_key(*c))
                .copied()
                .collect();
        }
        Ok(())
    }

    /// Codes of the peer's nonces we hold (`held_peer_nonce_codes`).
    pub fn held_incoming_codes(&self) -> Vec<[u8; 32]> {
        self.incoming.iter().map(|n| n.code).collect()
    }

    /// Nonces to advertise in a ping or sign response: when the peer holds fewer than
    /// [`MIN_THRESHOLD`] of ours, top up to [`TARGET`] and offer up to `TARGET − held`
    /// it has not reported; otherwise nothing. Advertised nonces count as held from now on
    /// (re-advertising is harmless; the peer dedupes by code).
    pub fn advertise<R: RngCore + CryptoRng>(
        &mut self,
        share: &SigningShare,
        rng: &mut R,
    ) -> Vec<AdvertisedNonce> {
        let held = self.held_by_peer();
        if held >= MIN_THRESHOLD {
            return Vec::new();
        }
        while self.outgoing.len() < TARGET {
            self.generate(share, rng);
        }
        let want = TARGET.saturating_sub(held);
        let mut out = Vec::with_capacity(want);
        for code in &self.outgoing_order {
            if out.len() >= want {
                break;
            }
            if self.peer_holds.contains(code) {
                continue;
            }
            if let Some(o) = self.outgoing.get(code) {
                out.push(o.public.clone());
            }
        }
        for n in &out {
            self.peer_holds.insert(n.code);
        }
        out
    }

    /// Onboarding (§4.10): top the outgoing pool up to [`POOL_SIZE`] and offer every
    /// unspent nonce.
    pub fn advertise_all<R: RngCore + CryptoRng>(
        &mut self,
        share: &SigningShare,
        rng: &mut R,
    ) -> Vec<AdvertisedNonce> {
        while self.outgoing.len() < POOL_SIZE {
            self.generate(share, rng);
        }
        let out: Vec<AdvertisedNonce> = self
            .outgoing_order
            .iter()
            .filter_map(|c| self.outgoing.get(c).map(|o| o.public.clone()))
            .collect();
        self.peer_holds = out.iter().map(|n| n.code).collect();
        out
    }

    fn generate<R: RngCore + CryptoRng>(&mut self, share: &SigningShare, rng: &mut R) {
        let (nonces, commitments) = frost::round1::commit(share, rng);
        let mut code = [0u8; 32];
        rng.fill_bytes(&mut code);
        if self.outgoing.contains_key(&code) {
            return;
        }
        let Some(public) = public_of(&commitments, code) else {
            return;
        };
        self.outgoing.insert(code, Outgoing { nonces, public });
        self.outgoing_order.push_back(code);
    }

    /// Pop `n` of the peer's nonces (newest first) for a sign request, or none at all.
    /// Newest first because a peer that restarted refuses the codes it advertised before
    /// and re-advertises fresh ones: the freshest nonces are the ones most likely valid.
    pub fn take_incoming(&mut self, n: usize) -> Result<Vec<AdvertisedNonce>, PoolError> {
        if self.incoming.len() < n {
            return Err(PoolError::Exhausted);
        }
        let from = self.incoming.len() - n;
        let taken: Vec<AdvertisedNonce> = self.incoming.drain(from..).rev().collect();
        for t in &taken {
            self.incoming_codes.remove(&t.code);
            if self.used_codes.insert(t.code) {
                self.used_incoming.push_back(t.code);
                if self.used_incoming.len() > USED_MEMORY {
                    if let Some(old) = self.used_incoming.pop_front() {
                        self.used_codes.remove(&old);
                    }
                }
            }
        }
        Ok(taken)
    }

    /// Forget every nonce held from the peer, believed stale (it did not answer, or said
    /// `nonce_unavailable`). Unlike [`Self::take_incoming`] they are not remembered as used:
    /// if the peer still has them it may advertise them again, and then they are good.
    pub fn drop_incoming(&mut self) -> usize {
        let n = self.incoming.len();
        self.incoming.clear();
        self.incoming_codes.clear();
        n
    }

    /// Claim outgoing nonces by code, all or nothing, and remove them from the pool. The
    /// commitments each code was advertised with are returned alongside for validation.
    pub fn spend(&mut self, codes: &[[u8; 32]]) -> Result<SpentNonces, PoolError> {
        let mut seen = HashSet::new();
        for c in codes {
            if !seen.insert(*c) {
                return Err(PoolError::DuplicateCode);
            }
            if !self.outgoing.contains_key(c) {
                return Err(PoolError::UnknownCode);
            }
        }
        let mut nonces = Vec::with_capacity(codes.len());
        for c in codes {
            if let Some(o) = self.outgoing.remove(c) {
                nonces.push(o.nonces);
            }
            self.peer_holds.remove(c);
            self.outgoing_order.retain(|x| x != c);
            self.spent_count += 1;
        }
        Ok(SpentNonces {
            codes: codes.to_vec(),
            nonces,
        })
    }

    /// Forget everything (after an unclean stop: stale codes are then refused and the next
    /// ping re-syncs).
    pub fn discard(&mut self) {
        *self = Self::default();
    }

    /// The whole pool as bytes, secret nonces included, to be sealed and kept over a clean
    /// stop (peers such as bifrost-rs 0.5.0 keep our nonces and never drop them, so a pool
    /// lost at every restart costs them one failed request per nonce they hold).
    pub fn export(&self) -> Zeroizing<Vec<u8>> {
        let outgoing: Vec<(&[u8; 32], &Outgoing)> = self
            .outgoing_order
            .iter()
            .filter_map(|c| self.outgoing.get(c).map(|o| (c, o)))
            .collect();
        // Room for everything up front: a reallocation would leave a copy of the secret
        // nonces behind in freed memory that `Zeroizing` never sees.
        let room =
            64 + outgoing.len() * 512 + self.peer_holds.len() * 32 + self.incoming.len() * 98;
        let mut out = Zeroizing::new(Vec::with_capacity(room));
        out.push(EXPORT_VERSION);
        out.extend_from_slice(&(outgoing.len() as u32).to_be_bytes());
        for (code, o) in outgoing {
            let Ok(secret) = o.nonces.serialize().map(Zeroizing::new) else {
                continue;
            };
            out.extend_from_slice(code);
            out.extend_from_slice(&o.public.binder_pn);
            out.extend_from_slice(&o.public.hidden_pn);
            out.extend_from_slice(&(secret.len() as u16).to_be_bytes());
            out.extend_from_slice(&secret);
        }
        out.extend_from_slice(&(self.peer_holds.len() as u32).to_be_bytes());
        for c in &self.peer_holds {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&(self.incoming.len() as u32).to_be_bytes());
        for n in &self.incoming {
            out.extend_from_slice(&n.code);
            out.extend_from_slice(&n.binder_pn);
            out.extend_from_slice(&n.hidden_pn);
        }
        out.extend_from_slice(&self.spent_count.to_be_bytes());
        out
    }

    /// Rebuild a pool from [`Self::export`]. `None` when the bytes are not a valid pool;
    /// each secret nonce must still match the commitments it was advertised with.
    pub fn import(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.take::<1>()? != [EXPORT_VERSION] {
            return None;
        }
        let mut pool = Self::default();
        for _ in 0..r.count()? {
            let code = r.take::<32>()?;
            let binder_pn = r.take::<33>()?;
            let hidden_pn = r.take::<33>()?;
            let len = usize::from(u16::from_be_bytes(r.take::<2>()?));
            let nonces = SigningNonces::deserialize(r.slice(len)?).ok()?;
            let public = AdvertisedNonce {
                binder_pn,
                hidden_pn,
                code,
            };
            let commitments = SigningCommitments::from(&nonces);
            if public_of(&commitments, code).as_ref() != Some(&public)
                || pool
                    .outgoing
                    .insert(code, Outgoing { nonces, public })
                    .is_some()
            {
                return None;
            }
            pool.outgoing_order.push_back(code);
        }
        for _ in 0..r.count()? {
            pool.peer_holds.insert(r.take::<32>()?);
        }
        for _ in 0..r.count()? {
            let code = r.take::<32>()?;
            let binder_pn = r.take::<33>()?;
            let hidden_pn = r.take::<33>()?;
            if pool.incoming_codes.insert(code) {
                pool.incoming.push_back(AdvertisedNonce {
                    binder_pn,
                    hidden_pn,
                    code,
                });
            }
        }
        pool.spent_count = u64::from_be_bytes(r.take::<8>()?);
        (r.0.is_empty() && pool.outgoing.len() <= POOL_SIZE && pool.incoming.len() <= POOL_SIZE)
            .then_some(pool)
    }
}

const EXPORT_VERSION: u8 = 1;

/// Bounds-checked reading of [`PeerPool::export`] bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn slice(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.slice(N)?.try_into().ok()
    }

    /// An entry count, refused when larger than any pool may hold.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(u32::from_be_bytes(self.take::<4>()?)).ok()?;
        (n <= POOL_SIZE * 2).then_some(n)
    }
}

/// A fresh nonce pair for our own part of a session we start (never advertised).
pub fn fresh_nonce<R: RngCore + CryptoRng>(
    share: &SigningShare,
    rng: &mut R,
) -> (SigningNonces, SigningCommitments) {
    frost::round1::commit(share, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share() -> SigningShare {
        let mut b = [0u8; 32];
        b[31] = 7;
        SigningShare::deserialize(&b).expect("share")
    }

    #[test]
    fn export_import_round_trip_keeps_every_part_and_rejects_tampering() {
        let mut rng = rand::thread_rng();
        let mut a = PeerPool::new();
        let sent = a.advertise(&share(), &mut rng);
        assert_eq!(sent.len(), TARGET);
        let mut b = PeerPool::new();
        b.apply_remote(&sent, None).expect("apply");
        let theirs = b.advertise(&share(), &mut rng);
        a.apply_remote(&theirs, Some(&b.held_incoming_codes()))
            .expect("apply");
        a.spend(&[sent[0].code]).expect("spend");

        let bytes = a.export();
        // export's capacity estimate (512 per outgoing nonce) must hold: no reallocation.
        let secret_len = frost::round1::commit(&share(), &mut rng)
            .0
            .serialize()
            .expect("ser")
            .len();
        assert!(32 + 33 + 33 + 2 + secret_len <= 512, "{secret_len}");
        let back = PeerPool::import(&bytes).expect("import");
        assert_eq!(back.outgoing_len(), a.outgoing_len());
        assert_eq!(back.incoming_len(), a.incoming_len());
        assert_eq!(back.held_by_peer(), a.held_by_peer());
        assert_eq!(back.spent_count(), a.spent_count());
        assert_eq!(back.held_incoming_codes(), a.held_incoming_codes());
        // The restored secret nonces still answer their codes; the spent one stays refused.
        let mut back = back;
        assert_eq!(
            back.spend(&[sent[0].code]).err(),
            Some(PoolError::UnknownCode)
        );
        assert!(back.spend(&[sent[1].code]).is_ok());

        for cut in [0, 1, 5, bytes.len() - 1] {
            assert!(PeerPool::import(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(PeerPool::import(&longer).is_none());
        // A public nonce that no longer matches its secret is refused.
        let mut bad = bytes.to_vec();
        bad[1 + 4 + 32 + 5] ^= 1;
        assert!(PeerPool::import(&bad).is_none());
    }
}
