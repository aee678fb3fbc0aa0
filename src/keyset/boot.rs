//! What the node should run when it is switched to V2: read (blocking, store) for the boot
//! path and [`crate::control::Control::switch_node_to_v2`]. The V2 runtime itself is V2N's.

use crate::frostr_v2::{GroupPackage, ShareSecret};
use crate::secrets::{SecretsError, Vault};
use crate::store::Store;
use crate::store::credentials::CredentialsError;

use super::V2Credentials;
use super::record::from_record;

/// The V2 side of a node start.
#[derive(Debug)]
pub enum V2Start {
    /// The node is not switched to V2 (run v1 as before).
    NotV2,
    /// Complete credentials: start the V2 node with these.
    Run {
        group: GroupPackage,
        share: ShareSecret,
        relays: Vec<String>,
    },
    /// A `bfonboard` still waiting for its group: the V2 runtime must onboard first.
    Onboard(V2Credentials),
    Locked,
    /// Damaged or incomplete credentials (message safe to show).
    Invalid(String),
}

/// Reads the node owner's V2 credentials if the node is switched to V2. `default_relays`
/// apply when the credentials carry none.
pub fn load_v2(store: &Store, vault: &Vault, default_relays: &[String]) -> V2Start {
    match store.node_runs_v2() {
        Ok(true) => {}
        Ok(false) => return V2Start::NotV2,
        Err(e) => return V2Start::Invalid(e.to_string()),
    }
    let owner = match store.node_owner() {
        Ok(Some(o)) => o,
        Ok(None) => return V2Start::NotV2,
        Err(e) => return V2Start::Invalid(e.to_string()),
    };
    let rec = match store.get_v2_credentials(vault, &owner) {
        Ok(Some(r)) => r,
        Ok(None) => return V2Start::NotV2,
        Err(CredentialsError::Secrets(SecretsError::Locked)) => return V2Start::Locked,
        Err(e) => return V2Start::Invalid(e.to_string()),
    };
    let creds = match from_record(&rec) {
        Ok(c) => c,
        Err(e) => return V2Start::Invalid(e.to_string()),
    };
    if creds.needs_onboard() {
        return V2Start::Onboard(creds);
    }
    let (Some(group), Some(share)) = (creds.group.clone(), creds.share()) else {
        return V2Start::Invalid("the V2 share has no group package yet".into());
    };
    let relays = if creds.relays.is_empty() {
        default_relays.to_vec()
    } else {
        creds.relays.clone()
    };
    V2Start::Run {
        group,
        share,
        relays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyset::record::to_record;
    use crate::keyset::{V2Source, import::V2Credentials};

    #[test]
    fn loads_only_when_switched_and_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let vault = Vault::open(tmp.path()).unwrap();
        let relays = vec!["ws://127.0.0.1:9".to_string()];
        assert!(matches!(load_v2(&store, &vault, &relays), V2Start::NotV2));
        let ks = crate::frostr_v2::keyset::generate("g", 2, 3, &mut rand::rngs::OsRng).unwrap();
        let mut c = V2Credentials {
            share_secret: ks.shares[1].secret.clone(),
            group: Some(ks.group.clone()),
            relays: vec![],
            peer_pk: None,
            device_name: None,
            policy_overrides: vec![],
            source: V2Source::Bfshare,
        };
        store
            .put_v2_credentials(&vault, "user:1", &to_record(&c, 1))
            .unwrap();
        store.set_node_owner(Some("user:1")).unwrap();
        assert!(matches!(load_v2(&store, &vault, &relays), V2Start::NotV2));
        store.set_node_v2(true).unwrap();
        match load_v2(&store, &vault, &relays) {
            V2Start::Run {
                share, relays: r, ..
            } => {
                assert_eq!(share.idx, ks.shares[1].idx);
                assert_eq!(r, relays);
            }
            other => panic!("expected Run, got {other:?}"),
        }
        c.group = None;
        c.peer_pk = Some(ks.shares[0].peer_id());
        c.source = V2Source::Bfonboard;
        store
            .put_v2_credentials(&vault, "user:1", &to_record(&c, 2))
            .unwrap();
        assert!(matches!(
            load_v2(&store, &vault, &relays),
            V2Start::Onboard(_)
        ));
    }
}
