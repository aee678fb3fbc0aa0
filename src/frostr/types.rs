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
}

impl Drop for SecretScalar {
    fn drop(&mut self) {
        // NonZeroScalar cannot hold zero, so overwrite with one: the secret is gone either way.
        self.0 = NonZeroScalar::new(Scalar::ONE).unwrap();
        let mut s: Scalar = *self.0.as_ref();
        s.zeroize();
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
