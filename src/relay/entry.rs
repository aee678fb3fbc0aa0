//! The relay's compact form of an accepted event: what filters need, plus the JSON to send.

use nostr::prelude::{Event, EventId, PublicKey};

/// Fixed per-event overhead counted against the byte cap besides the JSON and tag values:
/// the entry itself, its `Arc`, and its slots in the store's indexes (measured roughly).
const ENTRY_OVERHEAD: usize = 256;

/// How NIP-01 says a kind is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindClass {
    /// Stored as is.
    Regular,
    /// 0, 3, 10000–19999: the newest per (pubkey, kind) is kept.
    Replaceable,
    /// 20000–29999: delivered, never stored.
    Ephemeral,
    /// 30000–39999: the newest per (pubkey, kind, `d` tag) is kept.
    Addressable,
}

impl KindClass {
    /// Classify by NIP-01's ranges (deliberately not the `nostr` crate's, which also treats
    /// the deprecated kind 41 as replaceable).
    pub fn of(kind: u16) -> Self {
        match kind {
            0 | 3 | 10_000..=19_999 => Self::Replaceable,
            20_000..=29_999 => Self::Ephemeral,
            30_000..=39_999 => Self::Addressable,
            _ => Self::Regular,
        }
    }
}

/// An accepted event as the relay keeps it. Shared (`Arc`) between the store and every
/// connection queue it is fanned out to, so one event costs memory once.
#[derive(Debug)]
pub struct EventEntry {
    pub id: EventId,
    pub pubkey: PublicKey,
    pub created_at: u64,
    pub kind: u16,
    /// Single-letter tags with a value, as (letter byte, first value): all a NIP-01 tag filter
    /// looks at.
    pub tags: Box<[(u8, Box<str>)]>,
    /// The `d` tag value for addressable events ("" when absent).
    pub d_tag: Box<str>,
    /// The event serialized once, spliced into every `EVENT` message sent.
    pub json: Box<str>,
}

impl EventEntry {
    /// Build from a verified event.
    pub fn from_event(event: &Event) -> Result<Self, serde_json::Error> {
        let mut tags = Vec::new();
        let mut d_tag: Option<Box<str>> = None;
        for tag in event.tags.iter() {
            let slice = tag.as_slice();
            let (Some(name), Some(value)) = (slice.first(), slice.get(1)) else {
                continue;
            };
            let &[letter] = name.as_bytes() else {
                continue;
            };
            if !letter.is_ascii_alphabetic() {
                continue;
            }
            if letter == b'd' && d_tag.is_none() {
                d_tag = Some(value.as_str().into());
            }
            tags.push((letter, Box::<str>::from(value.as_str())));
        }
        Ok(Self {
            id: event.id,
            pubkey: event.pubkey,
            created_at: event.created_at.as_secs(),
            kind: event.kind.as_u16(),
            tags: tags.into_boxed_slice(),
            d_tag: d_tag.unwrap_or_default(),
            json: serde_json::to_string(event)?.into_boxed_str(),
        })
    }

    /// Bytes this entry is charged against the store's byte cap.
    pub fn cost(&self) -> usize {
        let tag_bytes: usize = self.tags.iter().map(|(_, v)| v.len() + 24).sum();
        ENTRY_OVERHEAD + self.json.len() + tag_bytes + self.d_tag.len()
    }

    pub fn class(&self) -> KindClass {
        KindClass::of(self.kind)
    }

    /// NIP-01 order: newest first; equal timestamps by lowest id first.
    pub fn sort_key(&self) -> (std::cmp::Reverse<u64>, EventId) {
        (std::cmp::Reverse(self.created_at), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_classes_follow_nip01() {
        assert_eq!(KindClass::of(0), KindClass::Replaceable);
        assert_eq!(KindClass::of(1), KindClass::Regular);
        assert_eq!(KindClass::of(3), KindClass::Replaceable);
        assert_eq!(KindClass::of(41), KindClass::Regular);
        assert_eq!(KindClass::of(9_999), KindClass::Regular);
        assert_eq!(KindClass::of(10_000), KindClass::Replaceable);
        assert_eq!(KindClass::of(19_999), KindClass::Replaceable);
        assert_eq!(KindClass::of(20_000), KindClass::Ephemeral);
        assert_eq!(KindClass::of(29_999), KindClass::Ephemeral);
        assert_eq!(KindClass::of(30_000), KindClass::Addressable);
        assert_eq!(KindClass::of(39_999), KindClass::Addressable);
        assert_eq!(KindClass::of(40_000), KindClass::Regular);
    }
}
