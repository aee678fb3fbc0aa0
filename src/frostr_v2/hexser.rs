//! Serde helpers: fixed-size byte arrays as hex strings. Output is lower case; input may be
//! either case (bifrost-rs decoders accept upper case, §4).

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// Parse exactly `N` bytes of hex (either case).
pub fn parse<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

pub fn serialize<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse::<N>(&s).ok_or_else(|| D::Error::custom(format!("expected {N} bytes of hex")))
}

/// A list of hex arrays.
pub mod vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer, const N: usize>(
        v: &[[u8; N]],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&hex::encode(b))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Vec<[u8; N]>, D::Error> {
        let v = <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        v.iter()
            .map(|s| super::parse::<N>(s))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| D::Error::custom(format!("expected a list of {N}-byte hex values")))
    }
}

/// An optional variable-length hex byte string (`null` when absent).
pub mod opt_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let v = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        match v {
            None => Ok(None),
            Some(s) => hex::decode(s.as_bytes())
                .map(Some)
                .map_err(|_| D::Error::custom("expected hex")),
        }
    }
}
