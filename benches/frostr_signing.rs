//! Criterion benches for bifrost v1 signing and transport, on the vector keysets.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use igloo::frostr::session::{SessionPackage, SessionTemplate, SigVector, create_session};
use igloo::frostr::sign::{PsigPackage, SigningSession, sign_session};
use igloo::frostr::transport::envelope::MessageId;
use igloo::frostr::transport::event::{self, xonly_pubkey};
use igloo::frostr::transport::payload::Payload;
use igloo::frostr::{Commit, GroupPackage, SecretScalar, SharePackage};
use k256::PublicKey;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frostr-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn pk(v: &Value) -> PublicKey {
    PublicKey::from_sec1_bytes(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap()
}

fn keyset(v: &Value, name: &str) -> (GroupPackage, HashMap<u32, SharePackage>) {
    let ks = v["keysets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap();
    let g = &ks["group_decoded"];
    let group = GroupPackage {
        group_pk: pk(&g["group_pk"]),
        threshold: g["threshold"].as_u64().unwrap() as u32,
        commits: g["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Commit {
                idx: c["idx"].as_u64().unwrap() as u32,
                pubkey: pk(&c["pubkey"]),
                hidden_pn: pk(&c["hidden_pn"]),
                binder_pn: pk(&c["binder_pn"]),
            })
            .collect(),
    };
    let sec = |v: &Value| SecretScalar::from_bytes(&hex32(v)).unwrap();
    let shares = ks["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let d = &s["decoded"];
            let share = SharePackage {
                idx: d["idx"].as_u64().unwrap() as u32,
                seckey: sec(&d["seckey"]),
                binder_sn: sec(&d["binder_sn"]),
                hidden_sn: sec(&d["hidden_sn"]),
            };
            (share.idx, share)
        })
        .collect();
    (group, shares)
}

fn session_of(
    group: &GroupPackage,
    shares: &HashMap<u32, SharePackage>,
    members: &[u32],
) -> (SessionPackage, SigningSession, Vec<PsigPackage>) {
    let t = SessionTemplate::new(
        vec![SigVector::new([7u8; 32])],
        members.to_vec(),
        1_700_000_000,
    );
    let pkg = create_session(group, t).unwrap();
    let ss = SigningSession::new(group, pkg.clone()).unwrap();
    let psigs = members
        .iter()
        .map(|i| ss.sign(group, &shares[i]).unwrap())
        .collect();
    (pkg, ss, psigs)
}

fn benches(c: &mut Criterion) {
    let v = vectors();
    let (ga, sa) = keyset(&v, "A_2of3_upstream");
    let (gb, sb) = keyset(&v, "B_3of5");
    let (pkg_a, ss_a, psigs_a) = session_of(&ga, &sa, &[1, 3]);
    let (_, ss_b, psigs_b) = session_of(&gb, &sb, &[1, 3, 5]);
    let ctx_a = &ss_a.contexts()[0];
    let ctx_b = &ss_b.contexts()[0];
    let z_a: Vec<(u32, k256::Scalar)> = psigs_a
        .iter()
        .map(|p| (p.idx, ss_a.verify_response(p).unwrap()[0]))
        .collect();
    let z_b: Vec<(u32, k256::Scalar)> = psigs_b
        .iter()
        .map(|p| (p.idx, ss_b.verify_response(p).unwrap()[0]))
        .collect();

    c.bench_function("partial_sign (context ready)", |b| {
        b.iter(|| {
            ctx_a
                .partial_sign(black_box(&sa[&3]), &pkg_a.sid.0)
                .unwrap()
        })
    });
    c.bench_function("responder sign_session 2-of-3 (from /sign/req)", |b| {
        b.iter(|| sign_session(&ga, black_box(&sa[&3]), pkg_a.clone()).unwrap())
    });
    c.bench_function("verify_partial", |b| {
        b.iter(|| ctx_a.verify_partial(3, black_box(&z_a[1].1)).unwrap())
    });
    c.bench_function("aggregate 2-of-3", |b| {
        b.iter(|| ctx_a.aggregate(black_box(&z_a)).unwrap())
    });
    c.bench_function("aggregate 3-of-5", |b| {
        b.iter(|| ctx_b.aggregate(black_box(&z_b)).unwrap())
    });
    c.bench_function(
        "requester 2-of-3 full (session, own psig, verify 2, aggregate)",
        |b| {
            b.iter(|| {
                let t = SessionTemplate::new(
                    vec![SigVector::new([7u8; 32])],
                    vec![1, 3],
                    1_700_000_000,
                );
                let ss = SigningSession::new(&ga, create_session(&ga, t).unwrap()).unwrap();
                let own = ss.sign(&ga, &sa[&1]).unwrap();
                ss.aggregate(&[own, psigs_a[1].clone()]).unwrap()
            })
        },
    );
    let alice = &sa[&1].seckey;
    let bob = &sa[&3].seckey;
    let bob_pk = xonly_pubkey(bob);
    let env = Payload::SignReq(pkg_a.clone()).to_envelope(MessageId([1; 16]));
    c.bench_function("transport seal+open sign request", |b| {
        b.iter(|| {
            let ev = event::seal(
                alice,
                &bob_pk,
                black_box(&env),
                &[2; 24],
                &[3; 32],
                1_700_000_000,
            )
            .unwrap();
            event::open(bob, &ev).unwrap()
        })
    });
}

criterion_group!(group, benches);
criterion_main!(group);
