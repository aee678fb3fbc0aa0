//! Bech32 / bech32m (BIP-173 / BIP-350) without a length limit.
//!
//! bifrost encodes its credentials with `limit = false`: a bfgroup of six or more members is
//! longer than the 1023 characters the checksum is specified for, so the `bech32` crate refuses
//! it. The codec is small, so it is written out here. Decoded bytes may be secret (bfshare,
//! nsec), so every intermediate buffer wipes itself.

use zeroize::Zeroizing;

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];
const CHECKSUM_LEN: usize = 6;

/// Which checksum constant a string uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// BIP-173, used by NIP-19 (`nsec`, `npub`).
    Bech32,
    /// BIP-350, used by bifrost credentials (`bfgroup`, `bfshare`).
    Bech32m,
}

impl Variant {
    fn constant(self) -> u32 {
        match self {
            Variant::Bech32 => 1,
            Variant::Bech32m => 0x2bc8_30a3,
        }
    }
}

/// Why a string is not valid bech32(m). Separated from the credential errors so that each
/// credential kind can report them in its own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Bech32Error {
    #[error("mixes upper-case and lower-case letters")]
    MixedCase,
    #[error("has no '1' separating the prefix from the data")]
    MissingSeparator,
    #[error("has an empty or invalid prefix")]
    InvalidPrefix,
    #[error("is too short to hold a checksum")]
    TooShort,
    #[error("contains the character {0:?}, which bech32 does not use")]
    InvalidChar(char),
    #[error("has a bad checksum (a character is mistyped or missing)")]
    BadChecksum,
    #[error("has invalid padding bits at the end of the data")]
    InvalidPadding,
}

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &[u8]) -> impl Iterator<Item = u8> + '_ {
    hrp.iter()
        .map(|c| c >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.iter().map(|c| c & 31))
}

fn charset_value(c: u8) -> Option<u8> {
    CHARSET
        .iter()
        .position(|&x| x == c)
        .and_then(|p| u8::try_from(p).ok())
}

/// Encodes `data` under the lower-case prefix `hrp`. The result is as secret as `data`.
pub fn encode(hrp: &str, data: &[u8], variant: Variant) -> Zeroizing<String> {
    let hrp = hrp.to_ascii_lowercase();
    let mut five = Zeroizing::new(Vec::with_capacity(data.len() * 8 / 5 + 1 + CHECKSUM_LEN));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        acc = ((acc << 8) | u32::from(b)) & 0x0fff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            five.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        five.push(((acc << (5 - bits)) & 31) as u8);
    }
    let chk = polymod(
        hrp_expand(hrp.as_bytes())
            .chain(five.iter().copied())
            .chain([0u8; CHECKSUM_LEN]),
    ) ^ variant.constant();
    for i in 0..CHECKSUM_LEN {
        five.push(((chk >> (5 * (5 - i))) & 31) as u8);
    }
    let mut out = Zeroizing::new(String::with_capacity(hrp.len() + 1 + five.len()));
    out.push_str(&hrp);
    out.push('1');
    for &v in five.iter() {
        out.push(char::from(CHARSET[usize::from(v)]));
    }
    out
}

/// Decodes a bech32(m) string of any length into its lower-case prefix and data bytes.
pub fn decode(s: &str, variant: Variant) -> Result<(String, Zeroizing<Vec<u8>>), Bech32Error> {
    let raw = s.as_bytes();
    let has_lower = raw.iter().any(u8::is_ascii_lowercase);
    let has_upper = raw.iter().any(u8::is_ascii_uppercase);
    if has_lower && has_upper {
        return Err(Bech32Error::MixedCase);
    }
    let pos = raw
        .iter()
        .rposition(|&c| c == b'1')
        .ok_or(Bech32Error::MissingSeparator)?;
    let (hrp_raw, rest) = raw.split_at(pos);
    let data_raw = rest.get(1..).unwrap_or_default();
    if hrp_raw.is_empty() || hrp_raw.iter().any(|&c| !(33..=126).contains(&c)) {
        return Err(Bech32Error::InvalidPrefix);
    }
    if data_raw.len() < CHECKSUM_LEN {
        return Err(Bech32Error::TooShort);
    }
    let hrp: Vec<u8> = hrp_raw.iter().map(u8::to_ascii_lowercase).collect();
    let mut five = Zeroizing::new(Vec::with_capacity(data_raw.len()));
    for &c in data_raw {
        let lc = c.to_ascii_lowercase();
        match charset_value(lc) {
            Some(v) => five.push(v),
            None => return Err(Bech32Error::InvalidChar(char::from(c))),
        }
    }
    if polymod(hrp_expand(&hrp).chain(five.iter().copied())) != variant.constant() {
        return Err(Bech32Error::BadChecksum);
    }
    let payload = five.get(..five.len() - CHECKSUM_LEN).unwrap_or_default();
    let mut out = Zeroizing::new(Vec::with_capacity(payload.len() * 5 / 8));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &v in payload {
        acc = ((acc << 5) | u32::from(v)) & 0x0fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // BIP-173: at most 4 padding bits, all zero.
    if bits >= 5 || (acc & ((1 << bits) - 1)) != 0 {
        return Err(Bech32Error::InvalidPadding);
    }
    // hrp bytes are printable ASCII, so this cannot fail; fall back to an error rather than panic.
    let hrp = String::from_utf8(hrp).map_err(|_| Bech32Error::InvalidPrefix)?;
    Ok((hrp, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip350_valid_vectors() {
        for s in [
            "A1LQFN3A",
            "a1lqfn3a",
            "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
            "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
            "?1v759aa",
        ] {
            assert!(decode(s, Variant::Bech32m).is_ok(), "{s}");
            assert!(
                decode(s, Variant::Bech32).is_err(),
                "{s} must fail as bech32"
            );
        }
    }

    #[test]
    fn bip173_valid_vectors() {
        for s in [
            "A12UEL5L",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        ] {
            assert!(decode(s, Variant::Bech32).is_ok(), "{s}");
        }
    }

    #[test]
    fn invalid_inputs_have_distinct_errors() {
        assert_eq!(
            decode("A1lqfn3a", Variant::Bech32m),
            Err(Bech32Error::MixedCase)
        );
        assert_eq!(
            decode("lqfn3a", Variant::Bech32m),
            Err(Bech32Error::MissingSeparator)
        );
        assert_eq!(
            decode("1lqfn3a", Variant::Bech32m),
            Err(Bech32Error::InvalidPrefix)
        );
        assert_eq!(
            decode("a1lqfn3", Variant::Bech32m),
            Err(Bech32Error::TooShort)
        );
        assert_eq!(
            decode("a1lqfnba", Variant::Bech32m),
            Err(Bech32Error::InvalidChar('b'))
        );
        assert_eq!(
            decode("a1lqfn3q", Variant::Bech32m),
            Err(Bech32Error::BadChecksum)
        );
    }

    #[test]
    fn round_trip_long_payload() {
        let data: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        let s = encode("bfgroup", &data, Variant::Bech32m);
        assert!(s.len() > 1023);
        let (hrp, back) = decode(&s, Variant::Bech32m).unwrap();
        assert_eq!(hrp, "bfgroup");
        assert_eq!(back.as_slice(), data.as_slice());
    }
}
