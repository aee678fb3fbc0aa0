//! The NIP-01 event id check without intermediate buffers.
//!
//! `nostr`'s `Event::verify_id` serializes the id preimage into a fresh `Vec` and hashes it
//! with a portable SHA-256. Here the same serde serialization of the same tuple streams
//! straight into `sha2`, which uses the CPU's SHA instructions where it has them: the preimage
//! bytes, and so the accepted ids, are exactly those of `nostr`.

use std::io;

use nostr::prelude::Event;
use sha2::{Digest, Sha256};

/// `io::Write` into a running hash.
struct HashWriter(Sha256);

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of the event's NIP-01 id preimage `[0,pubkey,created_at,kind,tags,content]`.
pub(crate) fn compute(event: &Event) -> Option<[u8; 32]> {
    let mut w = HashWriter(Sha256::new());
    let preimage = (
        0u8,
        &event.pubkey,
        &event.created_at,
        &event.kind,
        &event.tags,
        event.content.as_str(),
    );
    serde_json::to_writer(&mut w, &preimage).ok()?;
    Some(w.0.finalize().into())
}

/// True if the event's id is the hash of its content.
pub(crate) fn matches(event: &Event) -> bool {
    compute(event).is_some_and(|h| h == *event.id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::prelude::{EventId, Kind, PublicKey, Tag, Tags, Timestamp};
    use proptest::prelude::*;

    fn reference(pk: &PublicKey, at: u64, kind: u16, tags: &Tags, content: &str) -> EventId {
        EventId::compute(
            pk,
            &Timestamp::from_secs(at),
            &Kind::from_u16(kind),
            tags,
            content,
        )
    }

    fn event_json(
        pk: &PublicKey,
        at: u64,
        kind: u16,
        tags: &Tags,
        content: &str,
        id: &str,
    ) -> Event {
        let json = serde_json::json!({
            "id": id,
            "pubkey": pk.to_hex(),
            "created_at": at,
            "kind": kind,
            "tags": tags,
            "content": content,
            "sig": "00".repeat(64),
        });
        Event::from_json(json.to_string()).expect("event")
    }

    fn key() -> PublicKey {
        PublicKey::from_hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
            .expect("key")
    }

    proptest! {
        // Same bytes as nostr's own id for any content (escapes, unicode, control characters)
        // and tags.
        #[test]
        fn same_id_as_nostr(
            content in "\\PC*|[\\x00-\\x1f\"\\\\\u{7f}\u{2028}é😀]{0,40}",
            at in 0u64..=u32::MAX as u64,
            kind in 0u16..=u16::MAX,
            tag_vals in proptest::collection::vec(("[a-zA-Z]", "[\\x00-\\x7f\u{e9}\u{1F600}]{0,12}"), 0..4),
        ) {
            let tags = Tags::from_list(
                tag_vals
                    .iter()
                    .map(|(n, v)| Tag::parse([n.as_str(), v.as_str()]).expect("tag"))
                    .collect(),
            );
            let pk = key();
            let want = reference(&pk, at, kind, &tags, &content);
            let ev = event_json(&pk, at, kind, &tags, &content, &want.to_hex());
            prop_assert_eq!(compute(&ev), Some(want.to_bytes()));
            prop_assert!(matches(&ev));
            prop_assert!(ev.verify_id());
        }
    }

    #[test]
    fn a_wrong_id_does_not_match() {
        let pk = key();
        let tags = Tags::new();
        let other = reference(&pk, 1, 1, &tags, "other");
        let ev = event_json(&pk, 1, 1, &tags, "hello", &other.to_hex());
        assert!(!matches(&ev));
        assert!(!ev.verify_id());
    }
}
