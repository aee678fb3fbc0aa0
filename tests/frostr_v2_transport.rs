//! V2 transport: NIP-44 framing known answers (unpadded base64), the envelope codec, the
//! kind-20000 event, and the receive checks of §4.5.

use igloo::frostr::SecretScalar;
use igloo::frostr_v2::cipher::{self, CipherError};
use igloo::frostr_v2::envelope::*;
use igloo::frostr_v2::event::{self, EventError};
use igloo::frostr_v2::hexser::parse;
use igloo::frostr_v2::keyset;
use igloo::frostr_v2::receive::{self, ReceiveError, ReplayCache};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

#[path = "common/mutate.rs"]
mod mutate;

fn secret(hex: &str) -> SecretScalar {
    SecretScalar::from_bytes(&parse::<32>(hex).unwrap()).unwrap()
}

fn xonly(s: &SecretScalar) -> [u8; 32] {
    let c = igloo::frostr_v2::types::compress(&s.public_key());
    c[1..].try_into().unwrap()
}

fn vectors() -> Vec<Value> {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bifrost-rs-nip44.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

#[test]
fn nip44_known_answers_encrypt_unpadded_and_decrypt_both_forms() {
    let vs = vectors();
    assert_eq!(vs.len(), 5);
    let mut saw_padding = 0;
    for v in &vs {
        let s = secret(v["sender_secret"].as_str().unwrap());
        let r = secret(v["recipient_secret"].as_str().unwrap());
        let nonce = parse::<32>(v["nonce"].as_str().unwrap()).unwrap();
        let pt = v["plaintext"].as_str().unwrap();
        let want = v["content"].as_str().unwrap();
        let key = cipher::conversation_key(&s, &xonly(&r)).unwrap();
        let got = cipher::encrypt(&key, pt, nonce).unwrap();
        assert_eq!(got, want, "{}", v["name"]);
        assert!(!got.contains('='));
        // The recipient derives the same key from its side.
        let back = cipher::conversation_key(&r, &xonly(&s)).unwrap();
        assert_eq!(cipher::decrypt(&back, want).unwrap().as_str(), pt);
        if let Some(padded) = v["content_padded"].as_str() {
            if padded.ends_with('=') {
                saw_padding += 1;
                assert_ne!(padded, want);
            }
            assert_eq!(cipher::decrypt(&back, padded).unwrap().as_str(), pt);
            // The standard nostr crate (padded base64) reads the padded form: same payload.
            let nk = nostr::nips::nip44::v2::ConversationKey::from_slice(key.as_bytes()).unwrap();
            let bytes =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, padded).unwrap();
            let plain = nostr::nips::nip44::v2::decrypt_to_bytes(&nk, &bytes).unwrap();
            assert_eq!(plain, pt.as_bytes());
        }
    }
    assert_eq!(
        saw_padding, 3,
        "vectors must include lengths that need one and two '='"
    );
}

#[test]
fn nip44_rejects_bad_content() {
    let s = secret("579689f6508912ed1fc14b656426a1669b1e15510e33304b2c9e62248bd9299e");
    let r = secret("9f4f7b8b4f3d5d8f553a0c4ff5f3f379c2f4ab78ac96f8f1db2098ea8b0f0d72");
    let key = cipher::conversation_key(&s, &xonly(&r)).unwrap();
    let good = cipher::encrypt(&key, "{\"hello\":\"world\"}", [7; 32]).unwrap();
    assert_eq!(cipher::decrypt(&key, ""), Err(CipherError::Content));
    assert_eq!(
        cipher::decrypt(&key, &format!("#{good}")),
        Err(CipherError::Content)
    );
    assert_eq!(cipher::decrypt(&key, "!!!!"), Err(CipherError::Base64));
    assert_eq!(cipher::decrypt(&key, "AAAA"), Err(CipherError::TooShort));
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD_NO_PAD, &good).unwrap();
    bytes[0] = 1;
    let v1 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, &bytes);
    assert_eq!(cipher::decrypt(&key, &v1), Err(CipherError::Version(1)));
    bytes[0] = 2;
    bytes[40] ^= 1;
    let tampered =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, &bytes);
    assert_eq!(cipher::decrypt(&key, &tampered), Err(CipherError::Mac));
    let other = cipher::conversation_key(&s, &xonly(&s)).unwrap();
    assert_eq!(cipher::decrypt(&other, &good), Err(CipherError::Mac));
    assert_eq!(
        cipher::encrypt(&key, "", [0; 32]),
        Err(CipherError::PlaintextLength)
    );
    assert_eq!(
        cipher::encrypt(&key, &"x".repeat(65_536), [0; 32]),
        Err(CipherError::PlaintextLength)
    );
}

fn nonce(n: u8) -> AdvertisedNonce {
    // Real points: multiples of G.
    let p = |k: u8| {
        let s = SecretScalar::from_bytes(&[k.max(1); 32]).unwrap();
        igloo::frostr_v2::types::compress(&s.public_key())
    };
    AdvertisedNonce {
        binder_pn: p(n),
        hidden_pn: p(n.wrapping_add(1)),
        code: [n; 32],
    }
}

fn all_payloads() -> Vec<Payload> {
    let ks = keyset::generate("g", 2, 3, &mut StdRng::seed_from_u64(1)).unwrap();
    let ping = Ping {
        version: 2,
        advertised_nonces: vec![nonce(1), nonce(2)],
        held_peer_nonce_codes: vec![[9; 32]],
        policy_profile: Some(PolicyProfile {
            for_peer: [3; 32],
            revision: 4,
            updated: 5,
            block_all: false,
            request: MethodFlags::ALL,
            respond: MethodFlags {
                sign: false,
                ..MethodFlags::ALL
            },
        }),
    };
    vec![
        Payload::PingRequest(ping.clone()),
        Payload::PingResponse(Ping {
            policy_profile: None,
            ..ping
        }),
        Payload::OnboardRequest(OnboardRequest {
            version: 1,
            nonces: vec![nonce(3)],
        }),
        Payload::OnboardResponse(OnboardResponse {
            group: ks.group.clone(),
            nonces: vec![nonce(4)],
        }),
        Payload::SignRequest(SignSession {
            gid: [1; 32],
            sid: [2; 32],
            members: vec![1, 2],
            hashes: vec![[3; 32]],
            content: Some(vec![0xab, 0xcd]),
            kind: "message".into(),
            stamp: 1_700_000_000,
            nonces: vec![MemberNonces {
                idx: 1,
                entries: vec![NonceEntry {
                    hash_index: 0,
                    binder_pn: nonce(5).binder_pn,
                    hidden_pn: nonce(5).hidden_pn,
                    code: [5; 32],
                }],
            }],
        }),
        Payload::SignResponse(SignResponse {
            idx: 2,
            sid: [2; 32],
            pubkey: [4; 32],
            psigs: vec![PartialSig {
                hash_index: 0,
                sighash: [3; 32],
                partial_sig: [6; 32],
            }],
            nonce_code: None,
            replenish: Some(vec![nonce(6)]),
        }),
        Payload::EcdhRequest(EcdhPackage {
            idx: 1,
            members: vec![1, 2],
            entries: vec![EcdhEntry {
                ecdh_pk: [7; 32],
                keyshare: nonce(7).hidden_pn,
            }],
        }),
        Payload::EcdhResponse(EcdhPackage {
            idx: 2,
            members: vec![1, 2],
            entries: vec![],
        }),
        Payload::Error(ErrorData {
            code: "peer_denied".into(),
            message: "inbound sign denied by local policy".into(),
        }),
    ]
}

#[test]
fn every_payload_round_trips_with_wire_names() {
    for p in all_payloads() {
        let env = Envelope::new([0xaa; 16], 1_700_000_000, p.clone());
        let json = env.to_json();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["request_id"], "aa".repeat(16));
        assert_eq!(v["payload"]["type"], p.type_name());
        assert!(v["payload"]["data"].is_object());
        assert_eq!(Envelope::parse(&json).unwrap(), env);
    }
}

#[test]
fn envelope_accepts_upper_case_hex_missing_optionals_and_unknown_fields() {
    let json = r#"{"request_id":"r1","sent_at":5,"extra":true,"payload":{"type":"PingRequest","data":{"version":2,"held_peer_nonce_codes":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]}}}"#;
    let env = Envelope::parse(json).unwrap();
    match env.payload {
        Payload::PingRequest(p) => {
            assert_eq!(p.held_peer_nonce_codes, vec![[0xaa; 32]]);
            assert!(p.advertised_nonces.is_empty());
            assert!(p.policy_profile.is_none());
        }
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn envelope_rejects_bad_ids_versions_and_oversize_lists() {
    let mk = |rid: &str, payload: &str| {
        format!(r#"{{"request_id":"{rid}","sent_at":1,"payload":{payload}}}"#)
    };
    let ping = r#"{"type":"PingRequest","data":{"version":2}}"#;
    assert!(Envelope::parse(&mk("x", ping)).is_ok());
    assert_eq!(
        Envelope::parse(&mk("", ping)),
        Err(EnvelopeError::RequestId)
    );
    assert_eq!(
        Envelope::parse(&mk(&"x".repeat(257), ping)),
        Err(EnvelopeError::RequestId)
    );
    assert!(Envelope::parse(&mk(&"x".repeat(256), ping)).is_ok());
    assert_eq!(
        Envelope::parse(&mk("x", r#"{"type":"PingRequest","data":{"version":1}}"#)),
        Err(EnvelopeError::Version {
            what: "ping",
            got: 1
        })
    );
    assert_eq!(
        Envelope::parse(&mk(
            "x",
            r#"{"type":"OnboardRequest","data":{"version":2,"nonces":[]}}"#
        )),
        Err(EnvelopeError::Version {
            what: "onboard",
            got: 2
        })
    );
    assert!(matches!(
        Envelope::parse(&mk("x", r#"{"type":"Nope","data":{}}"#)),
        Err(EnvelopeError::Json(_))
    ));
    let hashes: Vec<String> = (0..101)
        .map(|_| format!("\"{}\"", "00".repeat(32)))
        .collect();
    let sign = format!(
        r#"{{"type":"SignRequest","data":{{"gid":"{z}","sid":"{z}","members":[1,2],"hashes":[{}],"content":null,"kind":"message","stamp":1,"nonces":[]}}}}"#,
        hashes.join(","),
        z = "00".repeat(32)
    );
    assert_eq!(
        Envelope::parse(&mk("x", &sign)),
        Err(EnvelopeError::TooMany("hashes"))
    );
    assert_eq!(
        Envelope::parse(&"x".repeat(70_000)),
        Err(EnvelopeError::TooLarge)
    );
}

proptest! {
    #[test]
    fn envelope_parse_never_panics(s in ".{0,400}") {
        let _ = Envelope::parse(&s);
    }

    #[test]
    fn ping_round_trips(rid in "[a-z0-9]{1,64}", sent_at in any::<u64>(), codes in prop::collection::vec(any::<[u8; 32]>(), 0..20), n in 0u8..30) {
        let p = Payload::PingResponse(Ping {
            version: 2,
            advertised_nonces: (0..n).map(nonce).collect(),
            held_peer_nonce_codes: codes,
            policy_profile: None,
        });
        let env = Envelope { request_id: rid, sent_at, payload: p };
        prop_assert_eq!(Envelope::parse(&env.to_json()).unwrap(), env);
    }

    #[test]
    fn cipher_round_trips_any_length(pt in "[ -~]{1,2000}", n in any::<[u8; 32]>()) {
        let s = SecretScalar::from_bytes(&[0x11; 32]).unwrap();
        let r = SecretScalar::from_bytes(&[0x22; 32]).unwrap();
        let k = cipher::conversation_key(&s, &xonly(&r)).unwrap();
        let c = cipher::encrypt(&k, &pt, n).unwrap();
        prop_assert!(!c.contains('='));
        let k2 = cipher::conversation_key(&r, &xonly(&s)).unwrap();
        let back = cipher::decrypt(&k2, &c).unwrap();
        prop_assert_eq!(back.as_str(), pt.as_str());
    }
}

struct Net {
    ks: keyset::Keyset,
}

impl Net {
    fn new() -> Self {
        Self {
            ks: keyset::generate("t", 2, 3, &mut StdRng::seed_from_u64(7)).unwrap(),
        }
    }
    fn id(&self, i: usize) -> [u8; 32] {
        self.ks.shares[i].peer_id()
    }
    fn seal(&self, from: usize, to: usize, env: &Envelope) -> event::Event {
        event::seal(
            &self.ks.shares[from].secret,
            &self.id(to),
            env,
            [3; 32],
            &[4; 32],
            1_700_000_000,
        )
        .unwrap()
    }
}

fn ping_env(rid: &str, sent_at: u64) -> Envelope {
    Envelope {
        request_id: rid.into(),
        sent_at,
        payload: Payload::PingRequest(Ping {
            version: 2,
            advertised_nonces: vec![],
            held_peer_nonce_codes: vec![],
            policy_profile: None,
        }),
    }
}

#[test]
fn event_has_one_p_tag_and_opens_for_the_recipient_only() {
    let net = Net::new();
    let env = ping_env("abc", 1000);
    let ev = net.seal(0, 1, &env);
    assert_eq!(ev.kind, 20000);
    assert_eq!(ev.tags, vec![vec!["p".to_string(), hex::encode(net.id(1))]]);
    assert!(!ev.content.contains('='));
    let author = event::check_event(&ev, &net.id(1)).unwrap();
    assert_eq!(author, net.id(0));
    assert_eq!(
        event::open(&net.ks.shares[1].secret, &author, &ev).unwrap(),
        env
    );
    assert_eq!(
        event::check_event(&ev, &net.id(2)),
        Err(EventError::NotForUs)
    );

    let mut two = ev.clone();
    two.tags.push(vec!["p".into(), hex::encode(net.id(1))]);
    assert_eq!(event::check_event(&two, &net.id(1)), Err(EventError::PTags));
    let mut kind = ev.clone();
    kind.kind = 20004;
    assert_eq!(
        event::check_event(&kind, &net.id(1)),
        Err(EventError::WrongKind {
            got: 20004,
            want: 20000
        })
    );
    let mut content = ev.clone();
    content.content.push('A');
    assert_eq!(
        event::check_event(&content, &net.id(1)),
        Err(EventError::IdMismatch)
    );
    let mut sig = ev.clone();
    sig.sig = format!(
        "{}{}",
        &ev.sig[..127],
        if ev.sig.ends_with('0') { '1' } else { '0' }
    );
    assert_eq!(
        event::check_event(&sig, &net.id(1)),
        Err(EventError::BadSignature)
    );
}

#[test]
fn receive_checks_run_in_order() {
    let net = Net::new();
    let me = &net.ks.shares[1];
    let mut cache = ReplayCache::new();
    let now = 2_000_000;
    let ok = net.seal(0, 1, &ping_env("r1", now));
    let inbound = receive::accept(
        &me.secret,
        &me.peer_id(),
        &net.ks.group,
        &mut cache,
        &ok,
        now,
    )
    .unwrap();
    assert_eq!(inbound.author_idx, 1);
    assert_eq!(inbound.envelope.request_id, "r1");
    // Same request id from the same author again: replay.
    assert_eq!(
        receive::accept(
            &me.secret,
            &me.peer_id(),
            &net.ks.group,
            &mut cache,
            &ok,
            now + 1
        )
        .unwrap_err(),
        ReceiveError::Replay
    );
    // The same id from another peer is a different request.
    let other = net.seal(2, 1, &ping_env("r1", now));
    assert!(
        receive::accept(
            &me.secret,
            &me.peer_id(),
            &net.ks.group,
            &mut cache,
            &other,
            now
        )
        .is_ok()
    );
    // Freshness.
    let stale = net.seal(0, 1, &ping_env("r2", now - 301));
    assert_eq!(
        receive::accept(
            &me.secret,
            &me.peer_id(),
            &net.ks.group,
            &mut cache,
            &stale,
            now
        )
        .unwrap_err(),
        ReceiveError::Expired
    );
    let future = net.seal(0, 1, &ping_env("r3", now + 31));
    assert_eq!(
        receive::accept(
            &me.secret,
            &me.peer_id(),
            &net.ks.group,
            &mut cache,
            &future,
            now
        )
        .unwrap_err(),
        ReceiveError::FromFuture
    );
    // An outsider is dropped before decryption.
    let outsider = SecretScalar::from_bytes(&[0x42; 32]).unwrap();
    let ev = event::seal(
        &outsider,
        &me.peer_id(),
        &ping_env("r4", now),
        [1; 32],
        &[1; 32],
        now,
    )
    .unwrap();
    assert_eq!(
        receive::accept(
            &me.secret,
            &me.peer_id(),
            &net.ks.group,
            &mut cache,
            &ev,
            now
        )
        .unwrap_err(),
        ReceiveError::UnknownPeer
    );
    // From ourselves.
    let selfie = net.seal(1, 1, &ping_env("r5", now));
    assert_eq!(
        receive::accept(
            &me.secret,
            &me.peer_id(),
            &net.ks.group,
            &mut cache,
            &selfie,
            now
        )
        .unwrap_err(),
        ReceiveError::FromSelf
    );
}

#[test]
fn freshness_bounds_are_inclusive() {
    assert!(receive::check_freshness(1000, 1300).is_ok());
    assert_eq!(
        receive::check_freshness(1000, 1301),
        Err(ReceiveError::Expired)
    );
    assert!(receive::check_freshness(1030, 1000).is_ok());
    assert_eq!(
        receive::check_freshness(1031, 1000),
        Err(ReceiveError::FromFuture)
    );
    assert!(receive::check_freshness(u64::MAX, u64::MAX).is_ok());
}

#[test]
fn replay_cache_is_bounded_and_forgets_expired_entries() {
    let mut c = ReplayCache::with_capacity(3);
    for i in 0..5u64 {
        c.check_and_insert(&[1; 32], &format!("id{i}"), 100, 100)
            .unwrap();
        assert!(c.len() <= 3);
    }
    // id0 was evicted (capacity), id4 is remembered.
    assert!(c.check_and_insert(&[1; 32], "id0", 100, 100).is_ok());
    assert_eq!(
        c.check_and_insert(&[1; 32], "id4", 100, 100),
        Err(ReceiveError::Replay)
    );
    // After the TTL everything expires.
    assert!(c.check_and_insert(&[1; 32], "id4", 100, 401).is_ok());
    assert_eq!(c.len(), 1);
}

#[test]
fn member_lists_must_be_canonical() {
    let net = Net::new();
    let g = &net.ks.group;
    assert!(receive::check_members(&[1, 2], g, &[1]).is_ok());
    assert!(receive::check_members(&[1, 2, 3], g, &[2, 3]).is_ok());
    assert_eq!(
        receive::check_members(&[2, 1], g, &[]),
        Err(ReceiveError::Members)
    );
    assert_eq!(
        receive::check_members(&[1, 1], g, &[]),
        Err(ReceiveError::Members)
    );
    assert_eq!(
        receive::check_members(&[1], g, &[]),
        Err(ReceiveError::Members)
    );
    assert_eq!(
        receive::check_members(&[1, 4], g, &[]),
        Err(ReceiveError::Members)
    );
    assert_eq!(
        receive::check_members(&[1, 2], g, &[3]),
        Err(ReceiveError::MissingMember(3))
    );
}

/// How far a decode got: 0 = not JSON of the envelope's shape, 1 = refused by a field, bound
/// or version check, 2 = decoded.
fn v2_depth(text: &str) -> u8 {
    match Envelope::parse(text) {
        Ok(env) => {
            // What decodes re-encodes to the same envelope.
            assert_eq!(Envelope::parse(&env.to_json()).unwrap(), env, "{text}");
            2
        }
        Err(EnvelopeError::Json(e)) if e.starts_with("expected") || e.contains("EOF") => 0,
        Err(_) => 1,
    }
}

/// Sample `i` (every payload type) as wire JSON with `muts` applied (mostly inside `data`).
fn v2_mutated(i: usize, muts: &[(usize, mutate::Mutation)], whole: bool) -> String {
    static ALL: std::sync::OnceLock<Vec<Payload>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(all_payloads);
    let p = all[i % all.len()].clone();
    let env = Envelope {
        request_id: "r1".into(),
        sent_at: 1_700_000_000,
        payload: p,
    };
    let mut v: Value = serde_json::from_str(&env.to_json()).unwrap();
    if whole {
        mutate::apply(&mut v, muts);
    } else if let Some(d) = v.pointer_mut("/payload/data") {
        mutate::apply(d, muts);
    } else {
        mutate::apply(&mut v, muts);
    }
    v.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Valid V2 envelopes of every payload type with 1–4 mutated nodes: never a panic, and
    /// what decodes round-trips.
    #[test]
    fn mutated_valid_envelopes_never_panic(i in 0usize..64, muts in mutate::mutations(), whole in prop::bool::weighted(0.15)) {
        let _ = v2_depth(&v2_mutated(i, &muts, whole));
    }
}

/// The mutations reach deep: most mutated envelopes get past the outer shape into field
/// decoders (hex, points, bounds, versions), and some still decode.
#[test]
fn mutated_envelopes_reach_the_field_decoders() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = (0usize..64, mutate::mutations(), prop::bool::weighted(0.15));
    let mut depth = [0u32; 3];
    for _ in 0..1000 {
        let (i, muts, whole) = strat.new_tree(&mut runner).unwrap().current();
        depth[v2_depth(&v2_mutated(i, &muts, whole)) as usize] += 1;
    }
    eprintln!("V2 depth: {depth:?}");
    assert!(
        depth[1] + depth[2] >= 500,
        "field decoders reached: {depth:?}"
    );
    assert!(depth[2] >= 30, "some mutations still decode: {depth:?}");
}
