//! V2 credentials at boot: SHARE_CRED (a V2 package) + SHARE_PASSWORD [+ GROUP_CRED as the
//! V2 group package JSON]. v1 credentials behave as before.

use clap::Parser;
use igloo::config::{Cli, Config, ConfigError};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr_v2::credentials::{
    KdfParams, Profile, SharePackage, encode_onboard, encode_profile,
    encode_share as encode_v2_share,
};
use igloo::frostr_v2::keyset as v2keyset;
use igloo::keyset::import::{V2Source, from_env};

const PW: &str = "boot password";

fn config(args: &[&str]) -> Result<Config, ConfigError> {
    let mut v = vec!["igloo", "--host-name", "127.0.0.1"];
    v.extend_from_slice(args);
    Config::from_settings(Cli::try_parse_from(v).unwrap().settings)
}

#[test]
fn v2_packages_select_v2_and_v1_is_unchanged() {
    let mut rng = rand::thread_rng();
    let ks = v2keyset::generate("home", 2, 3, &mut rng).unwrap();
    let relays = vec!["ws://127.0.0.1:9".to_string()];
    let profile = encode_profile(
        &Profile {
            name: "igloo".into(),
            share_secret: ks.shares[0].secret.clone(),
            relays: relays.clone(),
            policy_overrides: vec![],
            group: ks.group.clone(),
        },
        PW,
        KdfParams::FLOOR,
        &mut rng,
    )
    .unwrap();
    let c = config(&["--share-cred", &profile, "--share-password", PW]).unwrap();
    assert!(!c.has_env_credentials(), "v1 stays off");
    let v2 = c.v2_credentials.as_ref().expect("V2 credentials");
    assert!(!format!("{c:?}").contains(PW), "password redacted in Debug");
    let opened = from_env(v2).unwrap();
    assert!(opened.is_complete());
    assert_eq!(opened.source, V2Source::Bfprofile);
    assert_eq!(opened.share().unwrap().idx, ks.shares[0].idx);

    // A V2 bfshare needs the group package JSON in GROUP_CRED.
    let share = encode_v2_share(
        &SharePackage {
            share_secret: ks.shares[1].secret.clone(),
            relays: relays.clone(),
        },
        PW,
        KdfParams::FLOOR,
        &mut rng,
    )
    .unwrap();
    let e = config(&["--share-cred", &share, "--share-password", PW]).unwrap_err();
    assert_eq!(e.var, "GROUP_CRED");
    let gj = ks.group.to_json();
    let c = config(&[
        "--share-cred",
        &share,
        "--share-password",
        PW,
        "--group-cred",
        &gj,
    ])
    .unwrap();
    let opened = from_env(c.v2_credentials.as_ref().unwrap()).unwrap();
    assert_eq!(opened.share().unwrap().idx, ks.shares[1].idx);
    let e = config(&[
        "--share-cred",
        &share,
        "--share-password",
        PW,
        "--group-cred",
        "bfgroup1abc",
    ])
    .unwrap_err();
    assert_eq!(e.var, "GROUP_CRED");

    // A bfonboard is recognised by its prefix and needs the password.
    let onboard = encode_onboard(
        &igloo::frostr_v2::credentials::OnboardPackage {
            share_secret: ks.shares[2].secret.clone(),
            relays,
            peer_pk: ks.shares[0].peer_id(),
        },
        PW,
        KdfParams::FLOOR,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        config(&["--share-cred", &onboard]).unwrap_err().var,
        "SHARE_PASSWORD"
    );
    let c = config(&["--share-cred", &onboard, "--share-password", PW]).unwrap();
    assert!(
        from_env(c.v2_credentials.as_ref().unwrap())
            .unwrap()
            .needs_onboard()
    );
    // A wrong password is found when the daemon opens the package.
    let c = config(&["--share-cred", &onboard, "--share-password", "nope"]).unwrap();
    assert!(from_env(c.v2_credentials.as_ref().unwrap()).is_err());
    assert_eq!(
        config(&["--share-password", PW]).unwrap_err().var,
        "SHARE_CRED"
    );

    // v1 as before.
    let v1 = generate(&mut rng, 2, 3, None).unwrap();
    let (g, s) = (
        encode_group(&v1.group),
        encode_share(&v1.shares[0]).to_string(),
    );
    let c = config(&["--group-cred", &g, "--share-cred", &s]).unwrap();
    assert!(c.has_env_credentials() && c.v2_credentials.is_none());
    assert_eq!(config(&["--share-cred", &s]).unwrap_err().var, "GROUP_CRED");
}
