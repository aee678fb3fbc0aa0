//! V2 credentials (§4.15), versioned: bech32m `bfshare`, `bfonboard` and `bfprofile` over a
//! password envelope.
//!
//! * Envelope **v2** (current main line; what we write): Argon2id + XChaCha20-Poly1305 with
//!   AAD binding the HRP, salt and outer id. Field list taken from the main line's design
//!   note (B.2); verify against a newer bifrost-rs before relying on cross-decoding.
//! * Envelope **v1** (0.5.0-era apps; decode only): PBKDF2-HMAC-SHA256(SHA-256(password),
//!   salt, 600 000) + AES-256-GCM with a 24-byte IV, no AAD.

use aes::Aes256;
use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U24;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::hexser;
use super::types::{GroupError, GroupPackage};
use crate::frostr::SecretScalar;
use crate::frostr::bech32m::{self, Bech32Error, Variant};

pub const HRP_SHARE: &str = "bfshare";
pub const HRP_ONBOARD: &str = "bfonboard";
pub const HRP_PROFILE: &str = "bfprofile";
/// Largest envelope we decode (main line caps envelopes at 64 KiB).
pub const MAX_ENVELOPE: usize = 64 * 1024;
const V1_ITERATIONS: u32 = 600_000;
const AAD_DOMAIN: &[u8] = b"bfrstpkg\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("not a valid bech32m string: {0}")]
    Bech32(#[from] Bech32Error),
    #[error("expected a {want} package, got prefix {got:?}")]
    WrongKind { want: &'static str, got: String },
    #[error("package is larger than {MAX_ENVELOPE} bytes")]
    TooLarge,
    #[error("package envelope is not valid JSON")]
    Json,
    #[error("package envelope version {0} is not supported")]
    UnsupportedVersion(u64),
    #[error("package key derivation {0:?} is not supported")]
    UnsupportedKdf(String),
    #[error("package cipher {0:?} is not supported")]
    UnsupportedAead(String),
    #[error("Argon2id cost m={m} t={t} p={p} is outside the accepted range")]
    UnsupportedParams { m: u32, t: u32, p: u32 },
    #[error("package salt, nonce or ciphertext is malformed")]
    Malformed,
    #[error("wrong password, or the package was altered")]
    Decrypt,
    #[error("package contents are malformed: {0}")]
    Contents(&'static str),
    #[error("profile id does not match the share in it")]
    ProfileId,
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("key derivation failed")]
    Kdf,
}

/// Argon2id cost for new packages. Decoding refuses anything below the floor or above
/// the ceiling, so a tampered envelope cannot force a cheap or huge derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KdfParams {
    /// 256 MiB, 4 passes, 1 lane: the main line's default.
    pub const DEFAULT: Self = Self {
        m_cost: 262_144,
        t_cost: 4,
        p_cost: 1,
    };
    /// 64 MiB, 3 passes: the decode floor (also the cheapest allowed for writing).
    pub const FLOOR: Self = Self {
        m_cost: 65_536,
        t_cost: 3,
        p_cost: 1,
    };
    const M_CEILING: u32 = 1_048_576;
    const T_CEILING: u32 = 64;
    const P_CEILING: u32 = 16;

    fn check(self) -> Result<Self, PackageError> {
        let ok = (Self::FLOOR.m_cost..=Self::M_CEILING).contains(&self.m_cost)
            && (Self::FLOOR.t_cost..=Self::T_CEILING).contains(&self.t_cost)
            && (1..=Self::P_CEILING).contains(&self.p_cost);
        if ok {
            Ok(self)
        } else {
            Err(PackageError::UnsupportedParams {
                m: self.m_cost,
                t: self.t_cost,
                p: self.p_cost,
            })
        }
    }
}

#[derive(Serialize, Deserialize)]
struct EnvelopeV2 {
    version: u64,
    kdf: String,
    kdf_m_cost: u32,
    kdf_t_cost: u32,
    kdf_p_cost: u32,
    aead: String,
    salt_hex: String,
    nonce_hex: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct EnvelopeV1 {
    iv_bytes: u64,
    salt_hex: String,
    cipher_text: String,
}

fn aad(hrp: &str, salt: &[u8; 16], outer_id: &str) -> Result<Vec<u8>, PackageError> {
    if outer_id.contains('\0') {
        return Err(PackageError::Contents("outer id"));
    }
    let hrp_len = u8::try_from(hrp.len()).map_err(|_| PackageError::Malformed)?;
    let id_len = u16::try_from(outer_id.len()).map_err(|_| PackageError::Malformed)?;
    let mut a = Vec::with_capacity(AAD_DOMAIN.len() + 4 + hrp.len() + 16 + outer_id.len());
    a.extend_from_slice(AAD_DOMAIN);
    a.push(2);
    a.push(hrp_len);
    a.extend_from_slice(hrp.as_bytes());
    a.extend_from_slice(salt);
    a.extend_from_slice(&id_len.to_be_bytes());
    a.extend_from_slice(outer_id.as_bytes());
    Ok(a)
}

fn argon2_key(
    password: &str,
    salt: &[u8; 16],
    p: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, PackageError> {
    let params = argon2::Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
        .map_err(|_| PackageError::Kdf)?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    a.hash_password_into(password.as_bytes(), salt, key.as_mut())
        .map_err(|_| PackageError::Kdf)?;
    Ok(key)
}

/// Seal `plaintext` into an envelope-v2 JSON string.
pub fn seal_v2<R: RngCore + CryptoRng>(
    hrp: &str,
    outer_id: &str,
    plaintext: &[u8],
    password: &str,
    params: KdfParams,
    rng: &mut R,
) -> Result<String, PackageError> {
    let params = params.check()?;
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let key = argon2_key(password, &salt, params)?;
    let cipher =
        XChaCha20Poly1305::new_from_slice(key.as_slice()).map_err(|_| PackageError::Kdf)?;
    let aad = aad(hrp, &salt, outer_id)?;
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| PackageError::Malformed)?;
    let env = EnvelopeV2 {
        version: 2,
        kdf: "argon2id".into(),
        kdf_m_cost: params.m_cost,
        kdf_t_cost: params.t_cost,
        kdf_p_cost: params.p_cost,
        aead: "xchacha20poly1305".into(),
        salt_hex: hex::encode(salt),
        nonce_hex: hex::encode(nonce),
        ciphertext: URL_SAFE_NO_PAD.encode(ct),
    };
    serde_json::to_string(&env).map_err(|_| PackageError::Json)
}

/// Open an envelope of either version. The version decides the scheme; v1 ignores the
/// HRP and outer id (it had no AAD).
pub fn open(
    hrp: &str,
    outer_id: &str,
    envelope: &[u8],
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, PackageError> {
    if envelope.len() > MAX_ENVELOPE {
        return Err(PackageError::TooLarge);
    }
    let v: serde_json::Value = serde_json::from_slice(envelope).map_err(|_| PackageError::Json)?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(2) => open_v2(hrp, outer_id, v, password),
        Some(1) => open_v1(v, password),
        Some(n) => Err(PackageError::UnsupportedVersion(n)),
        None => Err(PackageError::Json),
    }
}

fn open_v2(
    hrp: &str,
    outer_id: &str,
    v: serde_json::Value,
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, PackageError> {
    let env: EnvelopeV2 = serde_json::from_value(v).map_err(|_| PackageError::Json)?;
    if env.kdf != "argon2id" {
        return Err(PackageError::UnsupportedKdf(env.kdf));
    }
    if env.aead != "xchacha20poly1305" {
        return Err(PackageError::UnsupportedAead(env.aead));
    }
    let params = KdfParams {
        m_cost: env.kdf_m_cost,
        t_cost: env.kdf_t_cost,
        p_cost: env.kdf_p_cost,
    }
    .check()?;
    let salt = hexser::parse::<16>(&env.salt_hex).ok_or(PackageError::Malformed)?;
    let nonce = hexser::parse::<24>(&env.nonce_hex).ok_or(PackageError::Malformed)?;
    let ct = URL_SAFE_NO_PAD
        .decode(env.ciphertext.as_bytes())
        .map_err(|_| PackageError::Malformed)?;
    let key = argon2_key(password, &salt, params)?;
    let cipher =
        XChaCha20Poly1305::new_from_slice(key.as_slice()).map_err(|_| PackageError::Kdf)?;
    let aad = aad(hrp, &salt, outer_id)?;
    cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| PackageError::Decrypt)
}

fn open_v1(v: serde_json::Value, password: &str) -> Result<Zeroizing<Vec<u8>>, PackageError> {
    let env: EnvelopeV1 = serde_json::from_value(v).map_err(|_| PackageError::Json)?;
    if env.iv_bytes != 24 {
        return Err(PackageError::Malformed);
    }
    let salt = hex::decode(env.salt_hex.as_bytes()).map_err(|_| PackageError::Malformed)?;
    let blob = URL_SAFE_NO_PAD
        .decode(env.cipher_text.as_bytes())
        .map_err(|_| PackageError::Malformed)?;
    if blob.len() < 24 + 16 {
        return Err(PackageError::Malformed);
    }
    let (iv, ct) = blob.split_at(24);
    // The password enters PBKDF2 pre-hashed; the `iterations` field is not read.
    let mut pw = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(password.as_bytes())));
    let mut key = Zeroizing::new([0u8; 32]);
    // ring's PBKDF2 is assembly-backed; the generic RustCrypto one is very slow unoptimised.
    let iterations = std::num::NonZeroU32::new(V1_ITERATIONS).ok_or(PackageError::Kdf)?;
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        pw.as_slice(),
        key.as_mut(),
    );
    pw.zeroize();
    let cipher =
        AesGcm::<Aes256, U24>::new_from_slice(key.as_slice()).map_err(|_| PackageError::Kdf)?;
    cipher
        .decrypt(aes_gcm::Nonce::<U24>::from_slice(iv), ct)
        .map(Zeroizing::new)
        .map_err(|_| PackageError::Decrypt)
}

fn unwrap_bech32(s: &str, hrp: &'static str) -> Result<Zeroizing<Vec<u8>>, PackageError> {
    let (got, data) = bech32m::decode(s.trim(), Variant::Bech32m)?;
    if got != hrp {
        return Err(PackageError::WrongKind { want: hrp, got });
    }
    Ok(data)
}

// --- form-urlencoded plaintext of bfshare / bfonboard -------------------------------------

fn form_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let h = [it.next()?, it.next()?];
                let h = std::str::from_utf8(&h).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// What `bfshare` carries: the share secret and relay hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePackage {
    pub share_secret: SecretScalar,
    pub relays: Vec<String>,
}

/// What `bfonboard` carries: a share secret, relays, and the provisioning peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardPackage {
    pub share_secret: SecretScalar,
    pub relays: Vec<String>,
    /// x-only key of the member that answers the onboard request.
    pub peer_pk: [u8; 32],
}

fn share_plaintext(
    secret: &SecretScalar,
    relays: &[String],
    peer_pk: Option<&[u8; 32]>,
) -> Zeroizing<String> {
    let mut s = Zeroizing::new(hex::encode(secret.to_bytes().as_slice()));
    let mut sep = '?';
    for r in relays {
        s.push(sep);
        s.push_str("relay=");
        form_encode(r, &mut s);
        sep = '&';
    }
    if let Some(pk) = peer_pk {
        s.push(sep);
        s.push_str("peer_pk=");
        s.push_str(&hex::encode(pk));
    }
    s
}

#[allow(clippy::type_complexity)]
fn parse_share_plaintext(
    bytes: &[u8],
) -> Result<(SecretScalar, Vec<String>, Option<[u8; 32]>), PackageError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| PackageError::Contents("not UTF-8"))?
        .trim();
    let (secret_hex, query) = text.split_once('?').unwrap_or((text, ""));
    let secret = hexser::parse::<32>(secret_hex)
        .map(Zeroizing::new)
        .and_then(|b| SecretScalar::from_bytes(&b))
        .ok_or(PackageError::Contents("share secret"))?;
    let mut relays = Vec::new();
    let mut peer = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = form_decode(v).ok_or(PackageError::Contents("query encoding"))?;
        match k {
            "relay" => relays.push(v.trim().to_owned()),
            "peer_pk" => {
                peer =
                    Some(hexser::parse::<32>(v.trim()).ok_or(PackageError::Contents("peer_pk"))?);
            }
            _ => {}
        }
    }
    if relays.is_empty() {
        return Err(PackageError::Contents("no relay"));
    }
    Ok((secret, relays, peer))
}

/// Encode a `bfshare1…` (envelope v2).
pub fn encode_share<R: RngCore + CryptoRng>(
    p: &SharePackage,
    password: &str,
    params: KdfParams,
    rng: &mut R,
) -> Result<Zeroizing<String>, PackageError> {
    if p.relays.is_empty() {
        return Err(PackageError::Contents("no relay"));
    }
    let plain = share_plaintext(&p.share_secret, &p.relays, None);
    let env = seal_v2(HRP_SHARE, "", plain.as_bytes(), password, params, rng)?;
    Ok(bech32m::encode(HRP_SHARE, env.as_bytes(), Variant::Bech32m))
}

pub fn decode_share(s: &str, password: &str) -> Result<SharePackage, PackageError> {
    let env = unwrap_bech32(s, HRP_SHARE)?;
    let plain = open(HRP_SHARE, "", &env, password)?;
    let (share_secret, relays, _) = parse_share_plaintext(&plain)?;
    Ok(SharePackage {
        share_secret,
        relays,
    })
}

/// Encode a `bfonboard1…` (envelope v2).
pub fn encode_onboard<R: RngCore + CryptoRng>(
    p: &OnboardPackage,
    password: &str,
    params: KdfParams,
    rng: &mut R,
) -> Result<Zeroizing<String>, PackageError> {
    if p.relays.is_empty() {
        return Err(PackageError::Contents("no relay"));
    }
    let plain = share_plaintext(&p.share_secret, &p.relays, Some(&p.peer_pk));
    let env = seal_v2(HRP_ONBOARD, "", plain.as_bytes(), password, params, rng)?;
    Ok(bech32m::encode(
        HRP_ONBOARD,
        env.as_bytes(),
        Variant::Bech32m,
    ))
}

pub fn decode_onboard(s: &str, password: &str) -> Result<OnboardPackage, PackageError> {
    let env = unwrap_bech32(s, HRP_ONBOARD)?;
    let plain = open(HRP_ONBOARD, "", &env, password)?;
    let (share_secret, relays, peer) = parse_share_plaintext(&plain)?;
    let peer_pk = peer.ok_or(PackageError::Contents("peer_pk missing"))?;
    Ok(OnboardPackage {
        share_secret,
        relays,
        peer_pk,
    })
}

// --- bfprofile ---------------------------------------------------------------------------

/// `hex(SHA-256("frostr:profile-id:v1" ‖ x-only share pubkey))`.
pub fn profile_id(share_secret: &SecretScalar) -> String {
    let c = super::types::compress(&share_secret.public_key());
    let mut h = Sha256::new();
    h.update(b"frostr:profile-id:v1");
    h.update(&c[1..]);
    hex::encode(h.finalize())
}

/// A manual per-method override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    #[default]
    Unset,
    Allow,
    Deny,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodOverrides {
    #[serde(default)]
    pub echo: Override,
    #[serde(default)]
    pub ping: Override,
    #[serde(default)]
    pub onboard: Override,
    #[serde(default)]
    pub sign: Override,
    #[serde(default)]
    pub ecdh: Override,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPolicy {
    #[serde(default)]
    pub request: MethodOverrides,
    #[serde(default)]
    pub respond: MethodOverrides,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOverride {
    #[serde(with = "hexser")]
    pub pubkey: [u8; 32],
    pub policy: PeerPolicy,
}

/// A full device profile (`bfprofile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub share_secret: SecretScalar,
    pub relays: Vec<String>,
    pub policy_overrides: Vec<PolicyOverride>,
    pub group: GroupPackage,
}

#[derive(Serialize, Deserialize)]
struct ProfileJson {
    profile_id: String,
    version: u64,
    device: DeviceJson,
    group_package: GroupPackage,
}

#[derive(Serialize, Deserialize)]
struct DeviceJson {
    name: String,
    share_secret: String,
    #[serde(default)]
    manual_peer_policy_overrides: Vec<PolicyOverride>,
    #[serde(default)]
    relays: Vec<String>,
}

impl Drop for DeviceJson {
    fn drop(&mut self) {
        self.share_secret.zeroize();
    }
}

pub fn encode_profile<R: RngCore + CryptoRng>(
    p: &Profile,
    password: &str,
    params: KdfParams,
    rng: &mut R,
) -> Result<Zeroizing<String>, PackageError> {
    if p.name.is_empty() {
        return Err(PackageError::Contents("device name"));
    }
    p.group.validate()?;
    let id = profile_id(&p.share_secret);
    let json = ProfileJson {
        profile_id: id.clone(),
        version: 1,
        device: DeviceJson {
            name: p.name.clone(),
            share_secret: hex::encode(p.share_secret.to_bytes().as_slice()),
            manual_peer_policy_overrides: p.policy_overrides.clone(),
            relays: p.relays.clone(),
        },
        group_package: p.group.clone(),
    };
    let plain = Zeroizing::new(serde_json::to_vec(&json).map_err(|_| PackageError::Json)?);
    let env = seal_v2(HRP_PROFILE, &id, &plain, password, params, rng)?;
    let mut bytes = Zeroizing::new(id.into_bytes());
    bytes.extend_from_slice(env.as_bytes());
    Ok(bech32m::encode(HRP_PROFILE, &bytes, Variant::Bech32m))
}

pub fn decode_profile(s: &str, password: &str) -> Result<Profile, PackageError> {
    let data = unwrap_bech32(s, HRP_PROFILE)?;
    let (outer, env) = data
        .split_at_checked(64)
        .ok_or(PackageError::Contents("profile id"))?;
    let outer = std::str::from_utf8(outer).map_err(|_| PackageError::Contents("profile id"))?;
    let plain = open(HRP_PROFILE, outer, env, password)?;
    let json: ProfileJson =
        serde_json::from_slice(&plain).map_err(|_| PackageError::Contents("profile JSON"))?;
    let secret = hexser::parse::<32>(&json.device.share_secret)
        .map(Zeroizing::new)
        .and_then(|b| SecretScalar::from_bytes(&b))
        .ok_or(PackageError::Contents("share secret"))?;
    let id = profile_id(&secret);
    if !outer.eq_ignore_ascii_case(&id) || !json.profile_id.eq_ignore_ascii_case(&id) {
        return Err(PackageError::ProfileId);
    }
    if json.device.name.is_empty() {
        return Err(PackageError::Contents("device name"));
    }
    json.group_package.validate()?;
    Ok(Profile {
        name: json.device.name.clone(),
        share_secret: secret,
        relays: json.device.relays.clone(),
        policy_overrides: json.device.manual_peer_policy_overrides.clone(),
        group: json.group_package,
    })
}
