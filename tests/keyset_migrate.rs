//! Migration core: v1 keyset (or nsec) → V2 keyset with the same npub; a V2 2-of-3
//! signature made in-process verifies under the v1 group key; bad inputs give typed errors.

use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::recovery::RecoveryError;
use igloo::frostr::types::x_only;
use igloo::frostr::{SecretScalar, keyset as v1keyset, nip19};
use igloo::frostr_v2::credentials::{KdfParams, decode_onboard};
use igloo::frostr_v2::nonces::fresh_nonce;
use igloo::frostr_v2::sign::{self, Commitment, SignerKey};
use igloo::frostr_v2::{GroupPackage, ShareSecret};
use igloo::keyset::migrate::{MigrateOptions, OWN_IDX};
use igloo::keyset::{MigrateError, Migration, MigrationInput, V2Credentials, migrate};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use rand::SeedableRng;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

const PW: &str = "correct horse battery";

fn opts() -> MigrateOptions {
    MigrateOptions {
        threshold: None,
        members: None,
        name: "home".into(),
        relays: vec!["ws://127.0.0.1:7777".into()],
        kdf: KdfParams::FLOOR,
    }
}

fn v1(rng: &mut StdRng, t: u32, n: u32, secret: Option<&SecretScalar>) -> (String, Vec<String>) {
    let ks = v1keyset::generate(rng, t, n, secret).unwrap();
    let shares = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    (encode_group(&ks.group), shares)
}

/// The V2 shares of members `idxs`, own share from the migration, others from the packages.
fn shares_of(m: &Migration, idxs: &[u16]) -> Vec<ShareSecret> {
    idxs.iter()
        .map(|&i| {
            if i == OWN_IDX {
                return m.own.clone();
            }
            let pkg = m.onboard.iter().find(|o| o.idx == i).unwrap();
            let ob = decode_onboard(&pkg.bfonboard, PW).unwrap();
            assert_eq!(
                ob.peer_pk,
                m.own.peer_id(),
                "this node provisions the others"
            );
            assert_eq!(ob.relays, m.relays);
            let s = ShareSecret::locate(ob.share_secret, &m.group).unwrap();
            assert_eq!(s.idx, i);
            s
        })
        .collect()
}

/// A FROST-TR signature by `shares`, verified under the x-only key `xo` with BIP-340.
fn sign_and_verify(group: &GroupPackage, shares: &[ShareSecret], xo: &[u8; 32]) {
    let mut rng = StdRng::seed_from_u64(9);
    let msg = [0x42u8; 32];
    let keys: Vec<SignerKey> = shares
        .iter()
        .map(|s| SignerKey::new(group, s).unwrap())
        .collect();
    let mut nonces = Vec::new();
    let mut commitments: Vec<Commitment> = Vec::new();
    for k in &keys {
        let (n, c) = fresh_nonce(k.signing_share(), &mut rng);
        let h: [u8; 33] = c.hiding().serialize().unwrap().try_into().unwrap();
        let b: [u8; 33] = c.binding().serialize().unwrap().try_into().unwrap();
        commitments.push((k.idx(), h, b));
        nonces.push(n);
    }
    let partials: Vec<(u16, [u8; 32])> = keys
        .iter()
        .zip(&nonces)
        .map(|(k, n)| {
            (
                k.idx(),
                sign::partial_sign(k, &commitments, &msg, n).unwrap(),
            )
        })
        .collect();
    let sig = sign::aggregate_partials(&keys[0], &commitments, &msg, &partials).unwrap();
    let vk = k256::schnorr::VerifyingKey::from_bytes(xo).unwrap();
    let sig = k256::schnorr::Signature::try_from(sig.as_slice()).unwrap();
    vk.verify_raw(&msg, &sig)
        .expect("V2 signature verifies under the v1 group key");
}

#[test]
fn v1_keyset_migrates_to_v2_with_the_same_npub_and_signs() {
    let mut rng = StdRng::seed_from_u64(1);
    let (group, shares) = v1(&mut rng, 2, 3, None);
    let v1_group = igloo::frostr::credentials::decode_group(&group).unwrap();
    let xo = v1_group.pubkey_x_only();
    let m = migrate(
        MigrationInput::V1Shares {
            group: &group,
            shares: &shares[1..3],
        },
        &opts(),
        PW,
        &mut rng,
    )
    .unwrap();
    assert_eq!(m.npub, nip19::encode_npub(&xo));
    assert_eq!(m.group.group_pk, xo);
    assert_eq!((m.group.threshold, m.group.members.len()), (2, 3));
    assert_eq!(m.own.idx, OWN_IDX);
    assert_eq!(
        m.onboard.iter().map(|o| o.idx).collect::<Vec<_>>(),
        vec![2, 3]
    );
    // No V2 share equals a v1 share: the V2 keyset is a fresh split.
    let v1_secrets: Vec<String> = shares
        .iter()
        .map(|s| {
            hex::encode(
                igloo::frostr::credentials::decode_share(s)
                    .unwrap()
                    .seckey
                    .to_bytes()
                    .as_slice(),
            )
        })
        .collect();
    assert!(!v1_secrets.contains(&hex::encode(m.own.secret.to_bytes().as_slice())));
    // Own + member 3, and members 2 + 3: any 2 of 3 sign.
    sign_and_verify(&m.group, &shares_of(&m, &[1, 3]), &xo);
    sign_and_verify(&m.group, &shares_of(&m, &[2, 3]), &xo);
    // The node's own credentials are complete and keep the npub.
    let c = V2Credentials::from_migration(&m);
    assert!(c.is_complete());
    assert_eq!(c.npub().unwrap(), m.npub);
    // Packages do not open with another password.
    assert!(decode_onboard(&m.onboard[0].bfonboard, "wrong password").is_err());
}

#[test]
fn shape_can_change_during_migration() {
    let mut rng = StdRng::seed_from_u64(2);
    let (group, shares) = v1(&mut rng, 2, 2, None);
    let o = MigrateOptions {
        threshold: Some(3),
        members: Some(4),
        ..opts()
    };
    let m = migrate(
        MigrationInput::V1Shares {
            group: &group,
            shares: &shares,
        },
        &o,
        PW,
        &mut rng,
    )
    .unwrap();
    assert_eq!((m.group.threshold, m.onboard.len()), (3, 3));
    let xo = igloo::frostr::credentials::decode_group(&group)
        .unwrap()
        .pubkey_x_only();
    sign_and_verify(&m.group, &shares_of(&m, &[1, 2, 4]), &xo);
}

#[test]
fn nsec_with_odd_y_keeps_the_npub() {
    let mut rng = StdRng::seed_from_u64(3);
    let secret = loop {
        let mut b = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rng, b.as_mut());
        let Some(s) = SecretScalar::from_bytes(&b) else {
            continue;
        };
        if s.public_key().to_encoded_point(true).as_bytes()[0] == 0x03 {
            break s;
        }
    };
    let xo = x_only(&secret.public_key());
    let nsec = nip19::encode_nsec(&secret);
    let m = migrate(MigrationInput::Nsec(&nsec), &opts(), PW, &mut rng).unwrap();
    assert_eq!(m.npub, nip19::encode_npub(&xo));
    assert_eq!((m.group.threshold, m.group.members.len()), (2, 3));
    sign_and_verify(&m.group, &shares_of(&m, &[1, 2]), &xo);
}

#[test]
fn bad_inputs_give_typed_errors() {
    let mut rng = StdRng::seed_from_u64(4);
    let (group, shares) = v1(&mut rng, 2, 3, None);
    let (_, other_shares) = v1(&mut rng, 2, 3, None);
    let run = |shares: &[String], rng: &mut StdRng| {
        migrate(
            MigrationInput::V1Shares {
                group: &group,
                shares,
            },
            &opts(),
            PW,
            rng,
        )
        .unwrap_err()
    };
    assert!(matches!(
        run(&shares[..1], &mut rng),
        MigrateError::Recovery(RecoveryError::NotEnoughShares { have: 1, need: 2 })
    ));
    let dup = vec![shares[0].clone(), shares[0].clone()];
    assert!(matches!(
        run(&dup, &mut rng),
        MigrateError::Recovery(RecoveryError::DuplicateShare { idx: 1 })
    ));
    let wrong = vec![shares[0].clone(), other_shares[1].clone()];
    assert!(matches!(
        run(&wrong, &mut rng),
        MigrateError::Recovery(RecoveryError::ShareNotInGroup(_))
    ));
    let garbage = vec![shares[0].clone(), "bfshare1nonsense".into()];
    let e = run(&garbage, &mut rng);
    assert!(matches!(e, MigrateError::Share { position: 2, .. }), "{e}");
    let e = migrate(
        MigrationInput::V1Shares {
            group: "bfgroup1xyz",
            shares: &shares,
        },
        &opts(),
        PW,
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(e, MigrateError::Group(_)));
    let e = migrate(MigrationInput::Nsec("nsec1abc"), &opts(), PW, &mut rng).unwrap_err();
    assert!(matches!(e, MigrateError::Nsec(_)));
    let o = MigrateOptions {
        threshold: Some(4),
        ..opts()
    };
    let e = migrate(
        MigrationInput::V1Shares {
            group: &group,
            shares: &shares,
        },
        &o,
        PW,
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(e, MigrateError::Keyset(_)));
    let o = MigrateOptions {
        relays: vec!["http://not-a-relay".into()],
        ..opts()
    };
    let e = migrate(MigrationInput::Nsec("x"), &o, PW, &mut rng).unwrap_err();
    assert!(matches!(e, MigrateError::Relays(_)));
    // Messages a person understands, without secrets.
    assert!(
        run(&shares[..1], &mut rng)
            .to_string()
            .contains("not enough shares")
    );
}
