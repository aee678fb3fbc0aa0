//! Onboarding over the V2 wire: a device holding only its share secret and the inviter's
//! peer id gets the group package and is sign-ready with the inviter at once.

use igloo::frostr_v2::envelope::{Envelope, OnboardRequest, Payload};
use igloo::frostr_v2::event;
use igloo::frostr_v2::keyset;
use igloo::frostr_v2::nonces::PeerPool;
use igloo::frostr_v2::onboard::{self, OnboardError, Onboarding};
use igloo::frostr_v2::receive::{self, ReplayCache};
use igloo::frostr_v2::sign::{self, SignRound, SignerKey};
use igloo::frostr_v2::types::GroupError;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn fresh_device_onboards_through_events_and_signs_with_the_inviter() {
    let mut rng = StdRng::seed_from_u64(1);
    let ks = keyset::generate("home", 2, 3, &mut rng).unwrap();
    let inviter = &ks.shares[0];
    let device_secret = ks.shares[1].secret.clone();
    let now = 1_800_000_000;

    let (state, req) =
        Onboarding::start(device_secret.clone(), inviter.peer_id(), &mut rng).unwrap();
    assert_eq!(req.nonces.len(), 100);
    let env = Envelope::new([1; 16], now, Payload::OnboardRequest(req));
    let ev = event::seal(
        &device_secret,
        &inviter.peer_id(),
        &env,
        [2; 32],
        &[3; 32],
        now,
    )
    .unwrap();

    // Inviter side: the normal receive path, then the onboard responder.
    let ikey = SignerKey::new(&ks.group, inviter).unwrap();
    let mut cache = ReplayCache::new();
    let inbound = receive::accept(
        &inviter.secret,
        &inviter.peer_id(),
        &ks.group,
        &mut cache,
        &ev,
        now,
    )
    .unwrap();
    assert_eq!(inbound.author_idx, 2);
    let Payload::OnboardRequest(req) = &inbound.envelope.payload else {
        panic!("not an onboard request")
    };
    let mut inviter_pool_for_device = PeerPool::new();
    let resp = onboard::respond(
        &ks.group,
        ikey.signing_share(),
        req,
        &mut inviter_pool_for_device,
        &mut rng,
    )
    .unwrap();
    assert_eq!(resp.nonces.len(), 100);
    let reply = inbound
        .envelope
        .reply(now + 1, Payload::OnboardResponse(resp));
    let rev = event::seal(
        &inviter.secret,
        &inbound.author,
        &reply,
        [4; 32],
        &[5; 32],
        now + 1,
    )
    .unwrap();

    // Device side: the response must come from the inviter, to us, with our request id.
    let own_id = ks.shares[1].peer_id();
    let author = event::check_event(&rev, &own_id).unwrap();
    assert_eq!(&author, state.inviter());
    let back = event::open(&device_secret, &author, &rev).unwrap();
    assert_eq!(back.request_id, env.request_id);
    let Payload::OnboardResponse(resp) = back.payload else {
        panic!("not an onboard response")
    };
    let mut done = state.finish(&resp).unwrap();
    assert_eq!(done.share.idx, 2);
    assert_eq!(done.group, ks.group);
    assert_eq!(done.inviter_idx, 1);
    assert!(done.pool.is_sign_ready());

    // Device asks the inviter to sign, using the nonces it just received.
    let dkey = SignerKey::new(&done.group, &done.share).unwrap();
    let peer = (1, done.pool.take_incoming(1).unwrap());
    let mut round =
        SignRound::start(&dkey, vec![peer], vec![[9; 32]], now as u32, &mut rng).unwrap();
    let codes = sign::validate_request(&ikey, 2, round.request()).unwrap();
    let spent = inviter_pool_for_device.spend(&codes).unwrap();
    let r = sign::respond(&ikey, round.request(), spent).unwrap();
    let sig = round.accept(1, &r).unwrap().unwrap()[0];
    let vk = k256::schnorr::VerifyingKey::from_bytes(&ks.group.group_pk).unwrap();
    vk.verify_raw(
        &[9; 32],
        &k256::schnorr::Signature::try_from(&sig[..]).unwrap(),
    )
    .unwrap();

    // And the inviter can ask the device: it holds the device's 100 request nonces.
    let peer = (2, inviter_pool_for_device.take_incoming(1).unwrap());
    let mut round =
        SignRound::start(&ikey, vec![peer], vec![[8; 32]], now as u32, &mut rng).unwrap();
    let codes = sign::validate_request(&dkey, 1, round.request()).unwrap();
    let r = sign::respond(&dkey, round.request(), done.pool.spend(&codes).unwrap()).unwrap();
    assert!(round.accept(2, &r).unwrap().is_some());
}

#[test]
fn requester_refuses_groups_without_itself_or_the_inviter() {
    let mut rng = StdRng::seed_from_u64(2);
    let ks = keyset::generate("home", 2, 3, &mut rng).unwrap();
    let other = keyset::generate("other", 2, 3, &mut rng).unwrap();
    let (state, req) = Onboarding::start(
        ks.shares[1].secret.clone(),
        ks.shares[0].peer_id(),
        &mut rng,
    )
    .unwrap();
    let mut pool = PeerPool::new();
    let key = SignerKey::new(&other.group, &other.shares[0]).unwrap();
    let wrong =
        onboard::respond(&other.group, key.signing_share(), &req, &mut pool, &mut rng).unwrap();
    assert_eq!(
        state.finish(&wrong).unwrap_err(),
        OnboardError::Group(GroupError::NotMember)
    );

    let (state, req) = Onboarding::start(
        ks.shares[1].secret.clone(),
        other.shares[0].peer_id(),
        &mut rng,
    )
    .unwrap();
    let key = SignerKey::new(&ks.group, &ks.shares[0]).unwrap();
    let resp = onboard::respond(
        &ks.group,
        key.signing_share(),
        &req,
        &mut PeerPool::new(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        state.finish(&resp).unwrap_err(),
        OnboardError::InviterMissing
    );

    let empty = OnboardRequest {
        version: 1,
        nonces: vec![],
    };
    assert_eq!(
        onboard::respond(
            &ks.group,
            key.signing_share(),
            &empty,
            &mut PeerPool::new(),
            &mut rng
        )
        .unwrap_err(),
        OnboardError::NoNonces
    );
}
