//! Data made by bifrost-rs 0.5.0 itself (tests/fixtures/bifrost-rs/): its packages decode here,
//! the events it sent to igloo in a live run open and parse, and the values the two computed
//! together (gid/sid, partial-signature hashes, ECDH keyshares) match what our code computes.

use igloo::frostr::SecretScalar;
use igloo::frostr_v2::credentials::{decode_onboard, decode_profile, decode_share, profile_id};
use igloo::frostr_v2::ecdh::keyshare;
use igloo::frostr_v2::envelope::{Envelope, Payload};
use igloo::frostr_v2::event::{Event, check_event, open};
use igloo::frostr_v2::hexser::parse;
use igloo::frostr_v2::ids::{group_id, session_id};
use igloo::frostr_v2::types::{GroupPackage, ShareSecret, compress, lift_x};
use k256::{ProjectivePoint, PublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn keyset() -> Value {
    serde_json::from_str(include_str!("fixtures/bifrost-rs/keyset-0.5.0.json")).expect("json")
}

fn live() -> Value {
    serde_json::from_str(include_str!("fixtures/bifrost-rs/live-0.5.0.json")).expect("json")
}

fn group() -> GroupPackage {
    GroupPackage::from_json(&keyset()["group"].to_string()).expect("bifrost-rs group package")
}

/// Member `idx`'s share secret as bifrost-rs wrote it (`{"idx", "seckey"}`).
fn secret(idx: u16) -> SecretScalar {
    let ks = keyset();
    let s = ks["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .find(|s| s["idx"] == idx)
        .expect("share");
    SecretScalar::from_bytes(&parse::<32>(s["seckey"].as_str().expect("hex")).expect("32 bytes"))
        .expect("scalar")
}

fn event(name: &str) -> Event {
    serde_json::from_value(live()[name].clone()).expect("event")
}

/// Open a captured event as its recipient would, after the §4.5 event checks.
fn open_as(recipient: u16, ev: &Event) -> Envelope {
    let me = ShareSecret::locate(secret(recipient), &group()).expect("member");
    let author = check_event(ev, &me.peer_id()).expect("event passes the receive checks");
    assert!(
        !ev.content.ends_with('='),
        "bifrost-rs sends unpadded base64"
    );
    open(&me.secret, &author, ev).expect("decrypts and parses")
}

#[test]
fn packages_made_by_bifrost_rs_decode() {
    let ks = keyset();
    let pw = ks["password"].as_str().expect("pw");
    let relay = ks["relay"].as_str().expect("relay").to_owned();
    let g = group();
    let p = &ks["packages"];

    let profile =
        decode_profile(p["bfprofile_member1"].as_str().expect("s"), pw).expect("bfprofile");
    assert_eq!(profile.share_secret, secret(1));
    assert_eq!(profile.group, g);
    assert_eq!(profile.relays, vec![relay.clone()]);
    assert_eq!(profile.name, "member-1");
    assert_eq!(profile_id(&profile.share_secret).len(), 64);

    let share = decode_share(p["bfshare_member2"].as_str().expect("s"), pw).expect("bfshare");
    assert_eq!(share.share_secret, secret(2));
    assert_eq!(share.relays, vec![relay.clone()]);
    assert_eq!(
        ShareSecret::locate(share.share_secret, &g)
            .expect("member")
            .idx,
        2
    );

    let onboard = decode_onboard(p["bfonboard_member3_via_member1"].as_str().expect("s"), pw)
        .expect("bfonboard");
    assert_eq!(onboard.share_secret, secret(3));
    assert_eq!(onboard.peer_pk, g.member(1).expect("m1").peer_id());
    assert_eq!(onboard.relays, vec![relay]);

    assert!(decode_share(p["bfshare_member2"].as_str().expect("s"), "wrong").is_err());
}

#[test]
fn bifrost_rs_events_open_and_parse() {
    let ping = open_as(1, &event("brs_ping_request"));
    let Payload::PingRequest(p) = ping.payload else {
        panic!("expected a PingRequest, got {:?}", ping.payload);
    };
    assert_eq!(p.version, 2);
    let profile = p.policy_profile.expect("bifrost-rs sends its policy");
    assert_eq!(profile.for_peer, group().member(1).expect("m1").peer_id());

    // The sign round igloo started: bifrost-rs accepted our gid and sid (it answered), and
    // both recompute here from the group package it made.
    let req = open_as(2, &event("igloo_sign_request"));
    let Payload::SignRequest(s) = req.payload else {
        panic!("expected a SignRequest");
    };
    assert_eq!(s.gid, group_id(&group()));
    assert_eq!(
        s.sid,
        session_id(
            &s.gid,
            &s.members,
            &s.hashes,
            s.content.as_deref(),
            &s.kind,
            s.stamp
        )
    );
    let resp = open_as(1, &event("brs_sign_response"));
    assert_eq!(resp.request_id, req.request_id);
    let Payload::SignResponse(r) = resp.payload else {
        panic!("expected a SignResponse");
    };
    assert_eq!((r.idx, r.sid), (2, s.sid));
    assert_eq!(r.pubkey, group().member(2).expect("m2").peer_id());
    assert_eq!(r.psigs.len(), 1);
    assert_eq!(r.psigs[0].sighash, s.hashes[0]);
}

/// bifrost-rs 0.5.0 sends its share unweighted and hashes the sum (§4.9); we send ours
/// λ-weighted. Its result must be SHA-256 of (its x₂·P + our keyshare) — which pins our
/// keyshare on the wire — and never the real group ECDH.
#[test]
fn ecdh_with_bifrost_rs_0_5_0_combines_our_weighted_keyshare() {
    let l = live();
    let want = &l["brs_ecdh_result"];
    let target = parse::<32>(want["target"].as_str().expect("t")).expect("32");
    let g = group();
    let ours = ShareSecret::locate(secret(1), &g).expect("m1");

    let req = open_as(1, &event("brs_ecdh_request"));
    let Payload::EcdhRequest(q) = req.payload else {
        panic!("expected an EcdhRequest");
    };
    assert_eq!((q.idx, q.members.as_slice()), (2, &[1u16, 2][..]));
    let p = lift_x(&target).expect("target");
    let theirs = compress(
        &PublicKey::from_affine((p.to_projective() * secret(2).scalar()).to_affine()).expect("pt"),
    );
    assert_eq!(
        q.entries[0].keyshare, theirs,
        "0.5.0 keyshare is unweighted x₂·P"
    );

    let resp = open_as(2, &event("igloo_ecdh_response"));
    let Payload::EcdhResponse(a) = resp.payload else {
        panic!("expected an EcdhResponse");
    };
    let mine = keyshare(&ours, &q.members, &target).expect("keyshare");
    assert_eq!(a.entries[0].keyshare, mine);

    let sum = PublicKey::from_sec1_bytes(&theirs)
        .expect("k")
        .to_projective()
        + PublicKey::from_sec1_bytes(&mine)
            .expect("k")
            .to_projective();
    let sum: ProjectivePoint = sum;
    let got: [u8; 32] = Sha256::digest(compress(
        &PublicKey::from_affine(sum.to_affine()).expect("pt"),
    ))
    .into();
    assert_eq!(hex::encode(got), want["shared_secret"].as_str().expect("s"));
    // For target G the real group ECDH is the group key itself: 0.5.0 cannot produce it.
    assert_ne!(got, g.group_pk);
}
