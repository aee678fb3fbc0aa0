//! Validated in-memory forms of the bifrost v1 credentials (spec §2.2, §2.3).
//!
//! Every value here has passed the decoder's checks: points are on the curve, scalars are
//! non-zero and in range, indexes are 1..=n. Secret material lives in [`SecretScalar`], which
//! zeroizes on drop, never prints, and compares in constant time.

use k256::elliptic_curve::subtle::{Choice, ConstantTimeEq};
use k256::{NonZeroScalar, PublicKey, Scalar};
use zeroize::Zeroize;

/// A secret, non-zero scalar (a share key or a static nonce secret).
#[derive(Clone)]
pub struct SecretScalar(NonZeroScalar);

impl SecretScalar {
    pub fn new(s: NonZeroScalar) -> Self {
        Self(s)
    }
    /// Parse 32 big-endian bytes; `None` for zero or a value ≥ the group order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        Option::<NonZeroScalar>::from(NonZeroScalar::from_repr((*bytes).into())).map(Self)
    }
    pub fn scalar(&self) -> Scalar {
        *self.0.as_ref()
    }
    pub fn non_zero(&self) -> &NonZeroScalar {
        &self.0
    }
    /// 32 big-endian bytes, in a buffer that wipes itself.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes().into())
    }
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_secret_scalar(&self.0)
    }
    /// Parse 32 big-endian bytes reduced modulo the group order (bifrost's `mod n` on
    /// dealer coefficients); `None` when the result is zero.
    pub fn from_bytes_reduced(bytes: &[u8; 32]) -> Option<Self> {
        use k256::elliptic_curve::ops::Reduce;
        let mut s = <Scalar as Reduce<k256::U256>>::reduce_bytes(&(*bytes).into());
        let nz = Option::<NonZeroScalar>::from(NonZeroScalar::new(s)).map(Self);
        s.zeroize();
        nz
    }
}

impl Drop for SecretScalar {
    fn drop(&mut self) {
        // NonZeroScalar's zeroize writes a volatile zero then one (it cannot hold zero).
        self.0.zeroize();
    }
}

impl ConstantTimeEq for SecretScalar {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.as_ref().ct_eq(other.0.as_ref())
    }
}

impl PartialEq for SecretScalar {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for SecretScalar {}

impl std::fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

/// One member's public commitment in a group package (103 bytes on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub idx: u32,
    /// Share public key x_i·G.
    pub pubkey: PublicKey,
    /// Static public hiding nonce d_i·G.
    pub hidden_pn: PublicKey,
    /// Static public binding nonce e_i·G.
    pub binder_pn: PublicKey,
}

/// A decoded `bfgroup1…`: group key, threshold and every member's commitment,
/// in the order they were encoded (dealer order = ascending idx).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPackage {
    /// a0·G, parity kept as encoded (may be odd).
    pub group_pk: PublicKey,
    pub threshold: u32,
    pub commits: Vec<Commit>,
}

/// A decoded `bfshare1…`: this member's index, share secret and static nonce secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharePackage {
    pub idx: u32,
    pub seckey: SecretScalar,
    pub binder_sn: SecretScalar,
    pub hidden_sn: SecretScalar,
}

/// 33-byte SEC1 compressed encoding (02/03 prefix, actual parity).
pub fn compressed(pk: &PublicKey) -> [u8; 33] {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    let ep = pk.to_encoded_point(true);
    let mut out = [0u8; 33];
    // A compressed encoding of a valid (non-identity) key is always 33 bytes.
    if ep.as_bytes().len() == 33 {
        out.copy_from_slice(ep.as_bytes());
    }
    out
}

/// 32-byte BIP-340 x-only key (the compressed encoding without its prefix).
pub fn x_only(pk: &PublicKey) -> [u8; 32] {
    let c = compressed(pk);
    let mut out = [0u8; 32];
    out.copy_from_slice(&c[1..]);
    out
}

impl GroupPackage {
    /// Number of members (n).
    pub fn total(&self) -> u32 {
        u32::try_from(self.commits.len()).unwrap_or(u32::MAX)
    }
    /// The commit of member `idx`, if any.
    pub fn commit(&self, idx: u32) -> Option<&Commit> {
        self.commits.iter().find(|c| c.idx == idx)
    }
    /// The group's Nostr identity: x-only(group_pk).
    pub fn pubkey_x_only(&self) -> [u8; 32] {
        x_only(&self.group_pk)
    }
}

impl SharePackage {
    /// The share's public key x_i·G (also its Nostr key).
    pub fn public_key(&self) -> PublicKey {
        self.seckey.public_key()
    }
}
