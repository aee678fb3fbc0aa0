//! Upgrading a store written by the previous schema, and refusing one from a newer igloo.

use igloo::store::migrations::{self, V1_PEER_POLICY_PREFIX};
use igloo::store::schema::{AUDIT_COUNTERS, META, PEER_POLICIES, SCHEMA_VERSION_KEY};
use igloo::store::{CURRENT_VERSION, CloseOutcome, Store, StoreError};
use redb::{ReadableDatabase, ReadableTable};

const PEER: &str = "02ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567";

fn peer_policies(store: &Store) -> Vec<(String, Vec<u8>)> {
    let txn = store.db().unwrap().begin_read().unwrap();
    let table = txn.open_table(PEER_POLICIES).unwrap();
    table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().to_owned(), v.value().to_vec())
        })
        .collect()
}

/// Writes the store the v1 binary would have left behind.
fn write_v1_store(dir: &std::path::Path) {
    let v1 = migrations::open_at_version(dir, 1).unwrap();
    assert_eq!(v1.schema_version(), 1);
    let mut tables = migrations::table_names(&v1).unwrap();
    tables.sort();
    assert_eq!(tables, ["meta", "settings"]);
    migrations::put_setting_v1(&v1, "GROUP_NAME", b"home signer").unwrap();
    migrations::put_setting_v1(&v1, "RELAYS", b"[\"wss://relay.example\"]").unwrap();
    migrations::put_setting_v1(&v1, "session_timeout", b"3600").unwrap();
    migrations::put_setting_v1(
        &v1,
        &format!("{V1_PEER_POLICY_PREFIX}{PEER}"),
        br#"{"send":true,"receive":false}"#,
    )
    .unwrap();
    assert_eq!(v1.close().unwrap(), CloseOutcome::Closed);
}

#[test]
fn v1_store_upgrades_to_current_with_data_moved() {
    let tmp = tempfile::tempdir().unwrap();
    write_v1_store(tmp.path());

    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.schema_version(), CURRENT_VERSION);
    assert_eq!(CURRENT_VERSION, 2);

    // Keys rewritten to the v2 form, values untouched.
    assert_eq!(
        store.get_setting("group_name").unwrap().as_deref(),
        Some(&b"home signer"[..])
    );
    assert_eq!(
        store.get_setting("relays").unwrap().as_deref(),
        Some(&b"[\"wss://relay.example\"]"[..])
    );
    assert_eq!(
        store.get_setting("session_timeout").unwrap().as_deref(),
        Some(&b"3600"[..])
    );
    // Old keys and the moved policy are gone from settings.
    assert_eq!(
        store.setting_keys().unwrap(),
        ["group_name", "relays", "session_timeout"]
    );
    // The policy now lives in its own table under the lower-case pubkey.
    assert_eq!(
        peer_policies(&store),
        [(
            PEER.to_ascii_lowercase(),
            br#"{"send":true,"receive":false}"#.to_vec()
        )]
    );
    // The new counters table exists and is usable.
    {
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(AUDIT_COUNTERS)
            .unwrap()
            .insert("partial_sigs", 3)
            .unwrap();
        txn.commit().unwrap();
    }
    store.close().unwrap();

    // Reopening a current store runs nothing and keeps everything.
    let again = Store::open(tmp.path()).unwrap();
    assert_eq!(again.schema_version(), CURRENT_VERSION);
    assert_eq!(
        again.get_setting("group_name").unwrap().as_deref(),
        Some(&b"home signer"[..])
    );
    assert_eq!(peer_policies(&again).len(), 1);
    let txn = again.db().unwrap().begin_read().unwrap();
    let counters = txn.open_table(AUDIT_COUNTERS).unwrap();
    assert_eq!(counters.get("partial_sigs").unwrap().unwrap().value(), 3);
}

#[test]
fn upgrade_keeps_existing_new_form_key_over_old_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = migrations::open_at_version(tmp.path(), 1).unwrap();
    migrations::put_setting_v1(&v1, "GROUP_NAME", b"old").unwrap();
    migrations::put_setting_v1(&v1, "group_name", b"new").unwrap();
    v1.close().unwrap();

    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(
        store.get_setting("group_name").unwrap().as_deref(),
        Some(&b"new"[..])
    );
    assert_eq!(store.setting_keys().unwrap(), ["group_name"]);
}

#[test]
fn v1_writer_refuses_a_current_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let err = migrations::put_setting_v1(&store, "GROUP_NAME", b"x").unwrap_err();
    assert!(matches!(
        err,
        StoreError::WrongVersion {
            expected: 1,
            actual: 2
        }
    ));
}

#[test]
fn newer_store_is_refused_and_left_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store.put_setting("group_name", b"future").unwrap();
    {
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, u64::from(CURRENT_VERSION) + 7)
            .unwrap();
        txn.commit().unwrap();
    }
    let file = store.path().to_path_buf();
    store.close().unwrap();
    let before = std::fs::read(&file).unwrap();

    let err = Store::open(tmp.path()).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!(*found, CURRENT_VERSION + 7);
            assert_eq!(*supported, CURRENT_VERSION);
        }
        other => panic!("expected NewerSchema, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("upgrade igloo"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "file was modified");
}
