//! Cost of authenticating one request: a session lookup (store read, SHA-256) and an API key
//! check (prefix lookup, SHA-256, constant-time compare), as every protected request pays it.

use criterion::{Criterion, criterion_group, criterion_main};
use igloo::auth::tokens::{random_token, secret_eq, sha256_hex};
use igloo::store::Store;
use igloo::store::api_keys::ApiKeyRecord;
use igloo::store::sessions::{SessionOwner, SessionRecord};

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("store");
    let sid = random_token();
    store
        .put_session(
            &sha256_hex(&sid),
            &SessionRecord {
                owner: SessionOwner::User { id: 1 },
                created_at: 0,
                last_access: 0,
                ip: None,
            },
        )
        .expect("session");
    let token = random_token();
    store
        .create_api_key(ApiKeyRecord {
            id: 0,
            prefix: token[..12].to_string(),
            key_hash: sha256_hex(&token),
            label: None,
            created_by_user_id: None,
            created_by_admin: true,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            last_used_ip: None,
            revoked_at: None,
            revoked_reason: None,
            scope: Default::default(),
        })
        .expect("key");

    c.bench_function("auth/session_lookup", |b| {
        b.iter(|| {
            store
                .get_session(&sha256_hex(&sid))
                .expect("read")
                .expect("found")
        })
    });
    c.bench_function("auth/api_key_check", |b| {
        b.iter(|| {
            let rec = store
                .find_api_key_by_prefix(&token[..12])
                .expect("read")
                .expect("found");
            assert!(secret_eq(&sha256_hex(&token), &rec.key_hash));
        })
    });
    c.bench_function("auth/password_verify_argon2id", |b| {
        let hash = igloo::auth::password::hash("Gl4cier!Pw").expect("hash");
        b.iter(|| assert!(igloo::auth::password::verify("Gl4cier!Pw", &hash)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
