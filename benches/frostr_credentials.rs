//! Credential decoding and threshold-ECDH costs (issue 3 benchmarks).

use criterion::{Criterion, criterion_group, criterion_main};
use igloo::frostr::{credentials, ecdh};
use serde_json::Value;
use std::hint::black_box;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frostr-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn keyset<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["keysets"]
        .as_array()
        .expect("keysets")
        .iter()
        .find(|k| k["name"] == name)
        .expect("keyset")
}

fn benches(c: &mut Criterion) {
    let v = vectors();
    let g3 = keyset(&v, "A_2of3_upstream")["bfgroup"]
        .as_str()
        .expect("group")
        .to_owned();
    let g11 = keyset(&v, "C_2of11")["bfgroup"]
        .as_str()
        .expect("group")
        .to_owned();
    let share = keyset(&v, "A_2of3_upstream")["shares"][0]["bfshare"]
        .as_str()
        .expect("share")
        .to_owned();

    c.bench_function("decode_group_n3", |b| {
        b.iter(|| credentials::decode_group(black_box(&g3)).expect("decode"))
    });
    c.bench_function("decode_group_n11", |b| {
        b.iter(|| credentials::decode_group(black_box(&g11)).expect("decode"))
    });
    c.bench_function("decode_share", |b| {
        b.iter(|| credentials::decode_share(black_box(&share)).expect("decode"))
    });

    let e = &v["ecdh"][0];
    let pk_bytes = hex::decode(e["ecdh_pk"].as_str().expect("pk")).expect("hex");
    let members: Vec<u32> = e["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m.as_u64().and_then(|m| u32::try_from(m).ok()))
        .collect();
    let sh = credentials::decode_share(&share).expect("share");
    c.bench_function("ecdh_keyshare", |b| {
        b.iter(|| {
            let pk = ecdh::parse_ecdh_pk(black_box(&pk_bytes)).expect("pk");
            ecdh::keyshare(&sh, black_box(&members), &pk).expect("keyshare")
        })
    });
}

criterion_group!(frostr_credentials, benches);
criterion_main!(frostr_credentials);
