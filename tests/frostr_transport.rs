//! bifrost v1 transport against the JS-generated and live-captured events, negative cases
//! and round-trip properties.

use std::collections::HashMap;

use igloo::frostr::SecretScalar;
use igloo::frostr::transport::cipher::{self, CipherError};
use igloo::frostr::transport::envelope::{Envelope, EnvelopeError, MessageId};
use igloo::frostr::transport::event::{self, Event, EventError, OpenError, xonly_pubkey};
use igloo::frostr::transport::payload::{Payload, PayloadError, Tag, parse_message};
use proptest::prelude::*;
use serde_json::Value;

#[path = "common/mutate.rs"]
mod mutate;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frostr-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(s(v)).unwrap().try_into().unwrap()
}

/// x-only pubkey hex → share secret, over every share of every keyset.
fn keys_by_pubkey(v: &Value) -> HashMap<String, SecretScalar> {
    let mut out = HashMap::new();
    for ks in v["keysets"].as_array().unwrap() {
        for sh in ks["shares"].as_array().unwrap() {
            let sk = SecretScalar::from_bytes(&bytes(&sh["decoded"]["seckey"])).unwrap();
            assert_eq!(hex::encode(xonly_pubkey(&sk)), s(&sh["nostr_pubkey"]));
            out.insert(s(&sh["nostr_pubkey"]).to_owned(), sk);
        }
    }
    out
}

fn event_of(v: &Value) -> Event {
    serde_json::from_value(v.clone()).unwrap()
}

fn recipient_of(ev: &Event) -> String {
    ev.tags[0][1].clone()
}

#[test]
fn captured_events_decrypt_and_reencrypt_byte_for_byte() {
    let v = vectors();
    let keys = keys_by_pubkey(&v);
    let mut n = 0;
    for t in v["transport"].as_array().unwrap() {
        let ev = event_of(&t["event"]);
        ev.verify().unwrap();
        let sender = &keys[&ev.pubkey];
        let recipient = &keys[&recipient_of(&ev)];
        // Shared key is symmetric and equals the recorded one.
        let k1 = cipher::shared_secret(recipient, &bytes(&t["sender_pubkey"])).unwrap();
        let k2 = cipher::shared_secret(sender, &bytes(&t["recipient_pubkey"])).unwrap();
        assert_eq!(*k1, *k2);
        assert_eq!(hex::encode(*k1), s(&t["shared_secret_x"]));

        // Recipient opens it into the recorded envelope.
        let env = event::open(recipient, &ev).unwrap();
        let exp = &t["envelope"];
        assert_eq!(env.tag, s(&exp["tag"]));
        assert_eq!(env.id.to_hex(), s(&exp["id"]));
        assert_eq!(env.data, s(&exp["data"]));
        assert_eq!(env.to_json(), s(&t["plaintext"]));

        // Typed payload re-serialises to the exact data string.
        let payload = Payload::parse(&env).unwrap();
        assert_eq!(payload.tag().as_str(), env.tag);
        assert_eq!(payload.data(), env.data);

        // Re-encrypt with the recorded IV: same content and ciphertext.
        let iv: [u8; 24] = bytes(&t["iv_hex"]);
        let content = cipher::encrypt(&k2, &env.to_json(), &iv);
        assert_eq!(content, ev.content);

        // Rebuild the whole event from the recorded draws: id and signature identical.
        let draws = t["rng_draws"].as_array().unwrap();
        let aux: [u8; 32] = bytes(draws.last().unwrap());
        if draws.len() == 3 {
            assert_eq!(MessageId(bytes(&draws[0])), env.id);
        }
        let rebuilt = event::seal(
            sender,
            &bytes(&t["recipient_pubkey"]),
            &payload.to_envelope(env.id),
            &iv,
            &aux,
            ev.created_at,
        )
        .unwrap();
        assert_eq!(rebuilt, ev, "{}", t["label"]);
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn ciphertext_matches_recorded_bytes() {
    let v = vectors();
    let t = &v["transport"][0];
    let ev = event_of(&t["event"]);
    let (ct, _) = ev.content.split_once("?iv=").unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(ct)
        .unwrap();
    assert_eq!(hex::encode(raw), s(&t["ciphertext_and_tag_hex"]));
}

#[test]
fn live_captured_events_open() {
    let v = vectors();
    let keys = keys_by_pubkey(&v);
    let mut tags = std::collections::HashSet::new();
    for e in v["live_capture"]["events"].as_array().unwrap() {
        let ev = event_of(&e["event"]);
        let env = event::open(&keys[&recipient_of(&ev)], &ev).unwrap();
        assert_eq!(env.data, s(&e["envelope"]["data"]));
        assert_eq!(env.id.to_hex(), s(&e["envelope"]["id"]));
        let payload = Payload::parse(&env).unwrap();
        assert_eq!(payload.data(), env.data);
        tags.insert(payload.tag());
    }
    assert_eq!(
        tags.len(),
        Tag::ALL.len(),
        "every tag appears in the live capture"
    );
}

fn first_event() -> (Value, HashMap<String, SecretScalar>, Event) {
    let v = vectors();
    let keys = keys_by_pubkey(&v);
    let ev = event_of(&v["transport"][3]["event"]);
    (v, keys, ev)
}

#[test]
fn tampered_events_are_rejected() {
    let (_, keys, ev) = first_event();
    let me = &keys[&recipient_of(&ev)];

    let mut bad = ev.clone();
    bad.content.replace_range(
        0..1,
        if bad.content.starts_with('A') {
            "B"
        } else {
            "A"
        },
    );
    assert_eq!(
        event::open(me, &bad),
        Err(OpenError::Event(EventError::IdMismatch))
    );

    let mut bad = ev.clone();
    bad.sig.replace_range(
        0..2,
        if bad.sig.starts_with("00") {
            "01"
        } else {
            "00"
        },
    );
    assert_eq!(bad.verify(), Err(EventError::BadSignature));

    let mut bad = ev.clone();
    bad.kind = 4;
    assert_eq!(bad.verify(), Err(EventError::WrongKind(4)));

    let mut bad = ev.clone();
    bad.created_at = 1;
    assert_eq!(bad.verify(), Err(EventError::TooOld));

    let mut bad = ev.clone();
    bad.id = bad.id.to_uppercase();
    assert_eq!(bad.verify(), Err(EventError::BadHex("id")));

    // Correctly signed but addressed to somebody else.
    let sender = &keys[&ev.pubkey];
    let third = keys
        .keys()
        .find(|k| **k != ev.pubkey && **k != recipient_of(&ev))
        .unwrap();
    assert_eq!(
        event::open(&keys[third], &ev),
        Err(OpenError::Event(EventError::NotForUs))
    );

    // Properly signed and addressed, but the content was encrypted for another key.
    let wrong_key =
        cipher::shared_secret(sender, &hex::decode(third).unwrap().try_into().unwrap()).unwrap();
    let content = cipher::encrypt(
        &wrong_key,
        "[\"/ping/req\",\"00000000000000000000000000000000\",\"ping\"]",
        &[1; 24],
    );
    let forged = Event::sign(
        sender,
        &hex::decode(recipient_of(&ev)).unwrap().try_into().unwrap(),
        content,
        ev.created_at,
        &[0; 32],
    )
    .unwrap();
    forged.verify().unwrap();
    assert_eq!(
        event::open(me, &forged),
        Err(OpenError::Cipher(CipherError::Decrypt))
    );
}

#[test]
fn malformed_payloads_are_typed_errors() {
    let id = "00112233445566778899aabbccddeeff";
    let msg =
        |tag: &str, data: &str| Envelope::new(tag, MessageId::parse(id).unwrap(), data).to_json();
    assert_eq!(
        parse_message(&msg("/nope/req", "x")),
        Err(PayloadError::UnknownTag("/nope/req".into()))
    );
    assert_eq!(
        parse_message(&msg("/ping/req", "pong")),
        Err(PayloadError::PingData)
    );
    assert!(matches!(
        parse_message(&msg("/ping/res", "{\"send\":1}")),
        Err(PayloadError::Malformed {
            tag: Tag::PingRes,
            ..
        })
    ));
    let h = "07347546664e85b69db13446686de50cc3a2d59a8bc74ea92c94c213436cb2b8";
    let session = |hashes: &str, members: &str| {
        format!(
            "{{\"content\":null,\"hashes\":{hashes},\"members\":{members},\"stamp\":1,\"type\":\"message\",\"gid\":\"{h}\",\"sid\":\"{h}\"}}"
        )
    };
    assert!(
        parse_message(&msg(
            "/sign/req",
            &session(&format!("[[\"{h}\"]]"), "[1,3]")
        ))
        .is_ok()
    );
    for (hashes, members) in [
        ("[]".to_owned(), "[1,3]"),
        (format!("[[\"{h}\"],[\"{h}\"]]"), "[1,3]"),
        (format!("[[\"{h}\"]]"), "[1,1]"),
        (format!("[[\"{h}\"]]"), "[0,1]"),
        (format!("[[\"{h}\"]]"), "[]"),
    ] {
        assert!(
            matches!(
                parse_message(&msg("/sign/req", &session(&hashes, members))),
                Err(PayloadError::Session {
                    tag: Tag::SignReq,
                    ..
                })
            ),
            "{hashes} {members}"
        );
    }
    for bad in [
        session("[[]]", "[1,3]"),
        session(&format!("[[\"{}\"]]", h.to_uppercase()), "[1,3]"),
        session(&format!("[[\"{h}\",\"00\"]]"), "[1,3]"),
        session(&format!("[[\"{h}\"]]"), "[-1,3]"),
        "{}".to_owned(),
        "not json".to_owned(),
    ] {
        assert!(
            matches!(
                parse_message(&msg("/sign/req", &bad)),
                Err(PayloadError::Malformed { .. })
            ),
            "{bad}"
        );
    }
    let point = "027b71071daca1ff789ca5f5ff6628411482bca746ed5b9c9ed92012072994a62b";
    let ecdh = |idx: u32, keyshare: &str, members: &str, pk: &str| {
        format!(
            "{{\"idx\":{idx},\"keyshare\":\"{keyshare}\",\"members\":{members},\"ecdh_pk\":\"{pk}\"}}"
        )
    };
    assert!(parse_message(&msg("/ecdh/req", &ecdh(1, point, "[1,2]", &point[2..]))).is_ok());
    assert!(parse_message(&msg("/ecdh/res", &ecdh(1, point, "[1,2]", point))).is_ok());
    assert!(matches!(
        parse_message(&msg("/ecdh/req", &ecdh(3, point, "[1,2]", point))),
        Err(PayloadError::Invalid {
            tag: Tag::EcdhReq,
            ..
        })
    ));
    // Not a curve point (x = 5 has no y on secp256k1) and a bad prefix.
    let off_curve = format!("02{:064x}", 5);
    assert!(parse_message(&msg("/ecdh/req", &ecdh(1, &off_curve, "[1,2]", point))).is_err());
    let bad_prefix = format!("04{}", &point[2..]);
    assert!(parse_message(&msg("/ecdh/req", &ecdh(1, point, "[1,2]", &bad_prefix))).is_err());
    assert!(matches!(
        parse_message(&msg(
            "/sign/res",
            &format!("{{\"idx\":1,\"psigs\":[],\"pubkey\":\"{point}\",\"sid\":\"{h}\"}}")
        )),
        Err(PayloadError::Invalid {
            tag: Tag::SignRes,
            ..
        })
    ));
    assert_eq!(
        parse_message(&format!("[\"/ping/req\",\"{}\",\"ping\"]", "g".repeat(32))),
        Err(PayloadError::Envelope(EnvelopeError::BadId))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trip(
        a in 1u64..1000, b in 1001u64..2000,
        data in ".{0,200}", id in any::<[u8; 16]>(), iv in any::<[u8; 24]>(), aux in any::<[u8; 32]>(),
        created_at in 500_000_000u64..4_000_000_000,
    ) {
        let k = |x: u64| { let mut b = [0u8; 32]; b[24..].copy_from_slice(&x.to_be_bytes()); SecretScalar::from_bytes(&b).unwrap() };
        let (alice, bob) = (k(a), k(b));
        let env = Envelope::new("/echo/req", MessageId(id), data);
        let ev = event::seal(&alice, &xonly_pubkey(&bob), &env, &iv, &aux, created_at).unwrap();
        let json = ev.to_json();
        let back = Event::from_json(&json).unwrap();
        prop_assert_eq!(event::open(&bob, &back).unwrap(), env);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in ".{0,300}") {
        let _ = parse_message(&s);
        let _ = Event::from_json(&s);
        let _ = cipher::decrypt(&[1; 32], &s);
    }
}

/// The captured v1 plaintexts ([tag, id, data]) with `data` expanded to JSON where it is JSON,
/// so mutations land inside sessions, partial signatures and ECDH packages.
fn v1_samples() -> Vec<Value> {
    static SAMPLES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(v1_samples_uncached).clone()
}

fn v1_samples_uncached() -> Vec<Value> {
    vectors()["transport"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut msg: Value = serde_json::from_str(s(&t["plaintext"])).unwrap();
            if let Some(inner) = msg[2]
                .as_str()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            {
                if inner.is_object() || inner.is_array() {
                    msg[2] = inner;
                }
            }
            msg
        })
        .collect()
}

/// Sample `i` with `muts` applied to its data (or, when `whole`, anywhere in the message).
fn v1_mutated(i: usize, muts: &[(usize, mutate::Mutation)], whole: bool) -> Value {
    let samples = v1_samples();
    let mut msg = samples[i % samples.len()].clone();
    if whole {
        mutate::apply(&mut msg, muts);
    } else if let Some(d) = msg.get_mut(2) {
        mutate::apply(d, muts);
    }
    msg
}

/// Back to the wire form: `data` is a string on the wire (a coin flip keeps a non-string, to
/// check that too).
fn v1_wire(mut msg: Value, stringify: bool) -> String {
    if stringify {
        if let Some(d) = msg.get_mut(2) {
            if !d.is_string() {
                *d = Value::String(d.to_string());
            }
        }
    }
    msg.to_string()
}

/// How far a decode got: 0 = not an envelope, 1 = envelope but payload refused, 2 = decoded.
fn v1_depth(text: &str) -> u8 {
    match parse_message(text) {
        Ok((id, payload)) => {
            // What decodes re-encodes to the same message.
            let again = payload.to_envelope(id).to_json();
            assert_eq!(parse_message(&again).unwrap(), (id, payload), "{text}");
            2
        }
        Err(PayloadError::Envelope(_)) | Err(PayloadError::UnknownTag(_)) => 0,
        Err(_) => 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Valid v1 messages with 1–4 mutated nodes: the decoder never panics, and anything it
    /// accepts round-trips.
    #[test]
    fn mutated_valid_messages_never_panic(i in 0usize..7, muts in mutate::mutations(), whole in prop::bool::weighted(0.15), stringify in prop::bool::weighted(0.9)) {
        let msg = v1_mutated(i, &muts, whole);
        let _ = v1_depth(&v1_wire(msg, stringify));
    }
}

/// The mutations above really reach the payload decoders: most mutated messages are still
/// envelopes, many payloads are refused by field checks and some still decode.
#[test]
fn mutated_messages_reach_the_payload_decoders() {
    use proptest::strategy::ValueTree;
    let samples = v1_samples();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = (0usize..7, mutate::mutations(), prop::bool::weighted(0.15));
    let mut depth = [0u32; 3];
    assert_eq!(samples.len(), 7);
    for _ in 0..1000 {
        let (i, muts, whole) = strat.new_tree(&mut runner).unwrap().current();
        let msg = v1_mutated(i, &muts, whole);
        depth[v1_depth(&v1_wire(msg, true)) as usize] += 1;
    }
    assert!(depth[1] >= 300, "payload checks reached: {depth:?}");
    assert!(depth[2] >= 30, "some mutations still decode: {depth:?}");
}
