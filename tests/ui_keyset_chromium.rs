//! The Keyset screen in real headless Chromium (as tests/ui_chromium.rs): the protocol shown on
//! the Signer tab, migrating the running v1 keyset to V2 through the page (confirm step,
//! packages shown only on click and checked against the API), no secret left in the DOM or in
//! storage after leaving the screen, a wrong import password refused with nothing changed, and
//! going back to v1 through the page.

mod common;

use common::TestServer;
#[path = "common/cdp.rs"]
mod cdp;

use cdp::Browser;
use igloo::frostr::credentials::{decode_group, encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::nip19;
use igloo::frostr_v2::credentials::{
    KdfParams, Profile, SharePackage, decode_onboard, encode_profile,
    encode_share as encode_v2_share,
};
use igloo::keyset::migrate::MigrateOptions;
use igloo::keyset::{MigrationInput, migrate};
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "ui-keyset-admin-secret-7";
const USER: &str = "owner";
const PASS: &str = "Pw8@Lmzq4Kx";
const PKG_PW: &str = "onboard pass 42";

fn visible(id: &str) -> String {
    format!("document.getElementById('{id}') && !document.getElementById('{id}').hidden")
}

/// GET `path` from inside the page, with the page's session cookie.
async fn page_get(b: &mut Browser, path: &str) -> Value {
    b.eval(&format!("fetch({}).then(r => r.json())", json!(path)))
        .await
}

/// Everything a leaked secret could hide in: the markup, every field's value, both storages.
async fn page_secrets_text(b: &mut Browser) -> String {
    b.eval(
        "document.documentElement.outerHTML + '\\n' + \
         [...document.querySelectorAll('input, textarea')].map(e => e.value).join('\\n') + '\\n' + \
         JSON.stringify(Object.assign({}, localStorage)) + JSON.stringify(Object.assign({}, sessionStorage))",
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Whether `text` holds a whole `bfonboard1…` package (not just the prefix a hint mentions).
fn has_package(text: &str) -> bool {
    const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    text.match_indices("bfonboard1").any(|(i, m)| {
        text[i + m.len()..]
            .chars()
            .take_while(|c| BECH32.contains(*c))
            .count()
            >= 50
    })
}

/// Creates the admin account and logs in through the page's own forms.
async fn onboard_and_log_in(b: &mut Browser, srv: &TestServer) {
    b.goto(&srv.url("/")).await;
    b.wait_for(&visible("view-onboarding"), "the onboarding form")
        .await;
    b.fill("#onboarding-form [name=secret]", ADMIN_SECRET).await;
    b.fill("#onboarding-form [name=username]", USER).await;
    b.fill("#onboarding-form [name=password]", PASS).await;
    b.fill("#onboarding-form [name=confirm]", PASS).await;
    b.click("#onboarding-form button[type=submit]").await;
    // Setting up signs the owner in and goes straight on to the keyset.
    b.wait_for(&visible("view-app"), "the signed-in app").await;
    b.click("#tabs [data-tab=signer]").await;
}

/// Submits the import form and waits until it has answered (the button is enabled again and
/// an error or a notice is showing).
async fn import(b: &mut Browser, package: &str, password: &str, group: &str) {
    b.eval("document.getElementById('import-error').hidden = true")
        .await;
    b.fill("#import-form [name=package]", package).await;
    b.fill("#import-form [name=password]", password).await;
    b.fill("#import-form [name=group]", group).await;
    b.click("#import-form button[type=submit]").await;
    b.wait_for_secs(
        &format!(
            "!document.querySelector('#import-form button[type=submit]').disabled && {}",
            visible("import-error"),
        ),
        "the import's answer",
        90,
    )
    .await;
}

#[test]
fn has_package_needs_a_whole_package() {
    assert!(!has_package("placeholder=\"bfonboard1…\""));
    assert!(has_package(&format!(
        "<code>bfonboard1{}</code>",
        "q".repeat(60)
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_v2_import_error_and_back_to_v1_in_the_browser() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let relay = format!("ws://{}", srv.addr);
    let mut b = Browser::launch().await;

    onboard_and_log_in(&mut b, &srv).await;
    b.wait_for(
        "document.getElementById('protocol').dataset.protocol === 'none'",
        "no protocol before a keyset is configured",
    )
    .await;

    // A v1 2-of-3 keyset through the Configure tab: the signer shows v1.
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group).to_string();
    let shares: Vec<String> = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let npub = nip19::encode_npub(&decode_group(&group).expect("group").pubkey_x_only());
    b.click("#tabs [data-tab=keyset]").await;
    b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    b.fill("#credentials-form [name=group_cred]", &group).await;
    b.fill("#credentials-form [name=share_cred]", &shares[0])
        .await;
    b.fill("#credentials-form [name=relays]", &relay).await;
    b.click("#credentials-form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#credentials-form .msg.ok')",
        "the saved message",
    )
    .await;
    b.click("#tabs [data-tab=signer]").await;
    b.wait_for(
        "document.getElementById('protocol').dataset.protocol === 'v1'",
        "the signer showing protocol v1",
    )
    .await;
    b.wait_for(
        "document.getElementById('keyset-info').textContent.startsWith('v1 keyset')",
        "the v1 keyset summary",
    )
    .await;

    // The Keyset screen: fill the migration, review it; nothing happens before the confirm.
    b.click("#tabs [data-tab=keyset]").await;
    b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    b.wait_for(&visible("tab-keyset"), "the keyset tab").await;
    b.wait_for(
        "document.getElementById('ks-protocol').dataset.protocol === 'v1'",
        "the keyset screen showing v1",
    )
    .await;
    let field_types = b
        .eval(
            "[...document.querySelectorAll('#migrate-form [name=share], #migrate-form [name=nsec], \
             #migrate-form [name=password], #import-form [name=package], #import-form [name=password]')]\
             .every(e => e.type === 'password')",
        )
        .await;
    assert_eq!(
        field_types,
        json!(true),
        "secret fields are password inputs"
    );
    b.fill("#migrate-form [name=group]", &group).await;
    b.fill("#migrate-form [name=share]", &shares[1]).await;
    b.fill("#migrate-shares label:nth-child(2) input", &shares[2])
        .await;
    b.fill("#migrate-form [name=password]", PKG_PW).await;
    b.fill("#migrate-form [name=confirm]", "a different one")
        .await;
    b.click("#migrate-form button[type=submit]").await;
    b.wait_for(&visible("migrate-error"), "the password mismatch error")
        .await;
    assert!(b.text("#migrate-error").await.contains("do not match"));
    b.fill("#migrate-form [name=confirm]", PKG_PW).await;
    b.click("#migrate-form button[type=submit]").await;
    b.wait_for(&visible("migrate-confirm"), "the confirm step")
        .await;
    assert!(
        b.text("#migrate-confirm")
            .await
            .contains("old v1 shares stay valid until every one of them is destroyed")
    );
    assert_eq!(
        page_get(&mut b, "/api/keyset").await["protocol"],
        "v1",
        "the review step changes nothing"
    );
    b.click("#migrate-go").await;
    b.wait_for_secs(&visible("migrate-result"), "the migration result", 90)
        .await;
    assert!(
        b.text("#migrate-warning")
            .await
            .contains("old v1 shares (bfshare) are still valid"),
        "the plain warning from the server is shown"
    );
    assert!(b.text("#migrate-summary").await.contains(&npub));
    // The form is wiped and the packages are not in the page until asked for.
    let html = page_secrets_text(&mut b).await;
    for s in &shares[1..] {
        assert!(!html.contains(s.as_str()), "a v1 share left in the page");
    }
    assert!(!html.contains(PKG_PW), "the password left in the page");
    assert!(!has_package(&html), "a package in the page before Show");
    let rows = b
        .eval("document.querySelectorAll('#onboard-packages li').length")
        .await;
    b.eval("document.querySelectorAll('#onboard-packages .show-secret').forEach(b => b.click())")
        .await;
    let shown = b
        .eval("[...document.querySelectorAll('#onboard-packages code.secret')].map(c => c.textContent)")
        .await;
    let shown: Vec<String> = shown
        .as_array()
        .expect("package list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(json!(shown.len()), rows);

    // Checked against the API: V2 now, same npub, one package per other member.
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(k["protocol"], "v2", "{k}");
    assert_eq!(k["v2"]["npub"], npub.as_str(), "{k}");
    assert_eq!(k["v2"]["complete"], true, "{k}");
    let members = k["v2"]["members"].as_u64().expect("members") as usize;
    assert_eq!(shown.len(), members - 1, "one package per other member");
    let me = page_get(&mut b, "/api/peers/self").await;
    let me = me["pubkey"].as_str().unwrap_or_default().to_string();
    let mut secrets = Vec::new();
    for p in &shown {
        assert!(p.starts_with("bfonboard1"), "{p}");
        let o = decode_onboard(p, PKG_PW).expect("the shown package opens with the password");
        assert_eq!(o.relays, vec![relay.clone()]);
        assert!(
            me.ends_with(&hex::encode(o.peer_pk)),
            "the package names this node ({me}) as its provisioning peer"
        );
        secrets.push(hex::encode(o.share_secret.to_bytes().as_slice()));
    }
    secrets.sort();
    secrets.dedup();
    assert_eq!(secrets.len(), shown.len(), "distinct shares");
    let st = page_get(&mut b, "/api/status").await;
    assert_eq!(st["protocol"], "v2", "the status says V2: {st}");

    // Hiding a package takes it out of the DOM again; leaving the screen forgets everything.
    b.click("#onboard-packages .show-secret").await;
    assert_eq!(
        b.eval("document.querySelector('#onboard-packages code.secret').textContent")
            .await,
        json!("")
    );
    b.click("#tabs [data-tab=signer]").await;
    b.wait_for(
        "document.getElementById('protocol').dataset.protocol === 'v2'",
        "the signer showing protocol V2",
    )
    .await;
    assert!(b.text("#keyset-info").await.starts_with("V2 keyset"));
    assert_eq!(
        b.eval(&format!(
            "{} && !({})",
            visible("peers-hint-v2"),
            visible("peers-hint-v1")
        ))
        .await,
        json!(true),
        "the V2 peers hint replaces v1's share-leak warning"
    );
    let html = page_secrets_text(&mut b).await;
    for p in &shown {
        assert!(!html.contains(p.as_str()), "a package left after leaving");
    }
    assert!(!has_package(&html) && !html.contains(PKG_PW));
    assert_eq!(
        b.eval("localStorage.length + sessionStorage.length").await,
        json!(0)
    );

    // Import with a wrong password: a clear error, and the keyset is unchanged.
    b.click("#tabs [data-tab=keyset]").await;
    b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    b.wait_for(
        "document.getElementById('ks-protocol').dataset.protocol === 'v2'",
        "the keyset screen showing V2",
    )
    .await;
    assert!(
        !b.eval(&visible("migrate-result"))
            .await
            .as_bool()
            .unwrap_or(true)
    );
    b.fill("#import-form [name=package]", &shown[0]).await;
    b.fill("#import-form [name=password]", "not the password")
        .await;
    b.click("#import-form button[type=submit]").await;
    b.wait_for_secs(&visible("import-error"), "the import error", 90)
        .await;
    let err = b.text("#import-error").await;
    assert!(err.contains("Wrong password"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    let after = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (
            &after["protocol"],
            &after["v2"]["source"],
            &after["v2"]["idx"]
        ),
        (&json!("v2"), &json!("migrate"), &k["v2"]["idx"]),
        "a failed import changes nothing: {after}"
    );

    // Back to v1, through a confirm step.
    b.click("#revert-start").await;
    b.wait_for(&visible("revert-confirm"), "the revert confirm step")
        .await;
    assert_eq!(page_get(&mut b, "/api/keyset").await["protocol"], "v2");
    b.click("#revert-go").await;
    b.wait_for(
        "document.getElementById('ks-protocol').dataset.protocol === 'v1'",
        "the keyset screen back on v1",
    )
    .await;
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (&k["protocol"], &k["v2"], &k["nodeActive"]),
        (&json!("v1"), &Value::Null, &json!(true)),
        "{k}"
    );
    b.click("#tabs [data-tab=signer]").await;
    b.wait_for(
        "document.getElementById('protocol').dataset.protocol === 'v1'",
        "the signer showing v1 again",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_every_v2_form_and_migrate_an_nsec_in_the_browser() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let relay = format!("ws://{}", srv.addr);
    let mut b = Browser::launch().await;
    onboard_and_log_in(&mut b, &srv).await;

    // V2 packages made by the library (cheapest allowed cost, to keep the test fast).
    let mut rng = rand::thread_rng();
    let v1 = generate(&mut rng, 2, 3, None).expect("keyset");
    let nsec = nip19::encode_nsec(
        &igloo::frostr::recovery::recover_secret(&v1.group, &v1.shares).expect("nsec"),
    );
    let npub = nip19::encode_npub(&v1.group.pubkey_x_only());
    let opts = MigrateOptions {
        threshold: None,
        members: None,
        name: "home".into(),
        relays: vec![relay.clone()],
        kdf: KdfParams::FLOOR,
    };
    let m = migrate(MigrationInput::Nsec(&nsec), &opts, PKG_PW, &mut rng).expect("migration");
    let onboard = m.onboard[0].bfonboard.to_string();
    let profile = encode_profile(
        &Profile {
            name: "laptop".into(),
            share_secret: m.own.secret.clone(),
            relays: vec![relay.clone()],
            policy_overrides: vec![],
            group: m.group.clone(),
        },
        PKG_PW,
        KdfParams::FLOOR,
        &mut rng,
    )
    .expect("profile")
    .to_string();
    let share = encode_v2_share(
        &SharePackage {
            share_secret: m.own.secret.clone(),
            relays: vec![relay.clone()],
        },
        PKG_PW,
        KdfParams::FLOOR,
        &mut rng,
    )
    .expect("share")
    .to_string();

    b.click("#tabs [data-tab=keyset]").await;
    b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    b.wait_for(
        "document.getElementById('ks-protocol').dataset.protocol === 'none'",
        "the keyset screen showing no keyset",
    )
    .await;
    assert_eq!(
        b.eval("document.getElementById('revert-start').disabled")
            .await,
        json!(true),
        "nothing to go back from"
    );

    // Refused in the page before anything is sent: not a V2 package, a bfshare without group.
    import(&mut b, "npub1abc", PKG_PW, "").await;
    assert!(b.text("#import-error").await.contains("starts with"));
    import(&mut b, &share, PKG_PW, "").await;
    assert!(b.text("#import-error").await.contains("group package"));
    // The server's refusal of a v1 share, in words.
    let v1_share = encode_share(&v1.shares[0]).to_string();
    import(&mut b, &v1_share, PKG_PW, &m.group.to_json()).await;
    let err = b.text("#import-error").await;
    assert!(err.contains("not a usable V2 package"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    assert_eq!(page_get(&mut b, "/api/keyset").await["protocol"], "none");

    // A bfonboard alone waits for its group from the provisioning peer.
    import(&mut b, &onboard, PKG_PW, "").await;
    assert_eq!(
        b.eval("document.getElementById('import-error').className")
            .await,
        json!("msg ok"),
        "the server's success message, not an error"
    );
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (
            &k["protocol"],
            &k["v2"]["source"],
            &k["v2"]["pendingOnboard"]
        ),
        (&json!("v2"), &json!("bfonboard"), &json!(true)),
        "{k}"
    );
    b.wait_for(
        "document.getElementById('ks-v2').textContent.includes('waiting for its group')",
        "the pending onboard shown",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#import-form [name=package]').value")
            .await,
        json!(""),
        "a successful import wipes the form"
    );

    // A bfprofile carries everything.
    import(&mut b, &profile, PKG_PW, "").await;
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (&k["v2"]["source"], &k["v2"]["complete"], &k["v2"]["npub"]),
        (&json!("bfprofile"), &json!(true), &json!(npub)),
        "{k}"
    );

    // A bfshare with its group package.
    import(&mut b, &share, PKG_PW, &m.group.to_json()).await;
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (&k["v2"]["source"], &k["v2"]["idx"], &k["v2"]["complete"]),
        (&json!("bfshare"), &json!(m.own.idx), &json!(true)),
        "{k}"
    );
    b.wait_for(
        "document.getElementById('ks-v2').textContent.includes('imported bfshare')",
        "the imported bfshare shown",
    )
    .await;

    // Migrate from the nsec with a new shape: 2 of 4, so three packages.
    b.click("#migrate-form [name=source][value=nsec]").await;
    b.wait_for(&visible("migrate-from-nsec"), "the nsec field")
        .await;
    b.fill("#migrate-form [name=nsec]", &nsec).await;
    b.fill("#migrate-form [name=members]", "4").await;
    b.fill("#migrate-form [name=threshold]", "2").await;
    b.fill("#migrate-form [name=password]", PKG_PW).await;
    b.fill("#migrate-form [name=confirm]", PKG_PW).await;
    b.click("#migrate-form button[type=submit]").await;
    b.wait_for(&visible("migrate-confirm"), "the confirm step")
        .await;
    b.click("#migrate-go").await;
    b.wait_for_secs(&visible("migrate-result"), "the migration result", 90)
        .await;
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (&k["v2"]["source"], &k["v2"]["members"], &k["v2"]["npub"]),
        (&json!("migrate"), &json!(4), &json!(npub)),
        "{k}"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#onboard-packages li').length")
            .await,
        json!(3)
    );
    assert!(!page_secrets_text(&mut b).await.contains(nsec.as_str()));

    // Going back with no v1 keyset stored: the confirm step says the node stops.
    b.click("#migrate-done").await;
    b.click("#revert-start").await;
    b.wait_for(&visible("revert-confirm"), "the revert confirm step")
        .await;
    assert!(b.text("#revert-confirm-text").await.contains("node stops"));
    b.click("#revert-go").await;
    b.wait_for(
        "document.getElementById('ks-protocol').dataset.protocol === 'none'",
        "no keyset after going back",
    )
    .await;

    // A user who is not an admin sees the protocol; the Keyset tab has only their own
    // credentials, none of the owner's V2 tools.
    let created = b
        .eval(&format!(
            "fetch('/api/admin/users', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, \
             body: JSON.stringify({{username: 'guest', password: {}}})}}).then(r => r.status)",
            json!(PASS)
        ))
        .await;
    assert_eq!(created, json!(201));
    b.click("#logout").await;
    b.wait_for(&visible("view-login"), "the login form").await;
    b.fill("#login-form [name=username]", "guest").await;
    b.fill("#login-form [name=password]", PASS).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_for(&visible("view-app"), "the app as guest").await;
    b.wait_for(
        "document.getElementById('protocol').dataset.protocol === 'none'",
        "the protocol row for a user",
    )
    .await;
    assert_eq!(
        b.eval("['create-section', 'import-section', 'migrate-section', 'revert-section'].map(id => document.getElementById(id).hidden)")
            .await,
        json!([true, true, true, true]),
        "no V2 keyset tools for a user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_a_new_v2_keyset_with_qr_codes_in_the_browser() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let relay = format!("ws://{}", srv.addr);
    let mut b = Browser::launch().await;
    onboard_and_log_in(&mut b, &srv).await;
    b.click("#tabs [data-tab=keyset]").await;
    b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    b.wait_for(&visible("create-section"), "the create section")
        .await;
    b.fill("#create-form [name=relays]", &relay).await;
    b.fill("#create-form [name=password]", PKG_PW).await;
    b.fill("#create-form [name=confirm]", PKG_PW).await;
    b.click("#create-form button[type=submit]").await;
    b.wait_for_secs(&visible("create-result"), "the new keyset's packages", 90)
        .await;
    let k = page_get(&mut b, "/api/keyset").await;
    assert_eq!(
        (&k["protocol"], &k["v2"]["complete"]),
        (&json!("v2"), &json!(true)),
        "{k}"
    );
    assert_eq!(k["v2"]["members"], json!(3));
    let npub = k["v2"]["npub"].as_str().unwrap_or_default().to_string();
    assert!(b.text("#create-summary").await.contains(&npub));
    // Hidden until asked for; then shown, copyable and as a QR code.
    let html = page_secrets_text(&mut b).await;
    assert!(!has_package(&html), "a package in the page before Show");
    assert!(!html.contains(PKG_PW), "the password left in the page");
    b.eval("document.querySelectorAll('#create-packages .show-secret').forEach(b => b.click())")
        .await;
    let shown = b
        .eval("[...document.querySelectorAll('#create-packages code.secret')].map(c => c.textContent)")
        .await;
    let shown: Vec<String> = shown
        .as_array()
        .expect("packages")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(shown.len(), 2, "one package per other member");
    for p in &shown {
        let o = decode_onboard(p, PKG_PW).expect("the package opens with its password");
        assert_eq!(o.relays, vec![relay.clone()]);
    }
    b.click("#create-packages .qr-secret").await;
    b.wait_for(
        "document.querySelector('#create-packages .qr img') && document.querySelector('#create-packages .qr img').complete && document.querySelector('#create-packages .qr img').naturalWidth >= 256",
        "the QR code image",
    )
    .await;
    // The result screen passes axe, fits a phone, and has 44 px targets, light and dark.
    for (w, h, mobile) in [(390, 844, true), (1280, 800, false)] {
        for scheme in ["light", "dark"] {
            b.viewport(w, h, mobile).await;
            b.color_scheme(scheme).await;
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            let found = b.audit().await;
            eprintln!("keyset-created: {w}/{scheme}={}", found.len());
            assert!(found.is_empty(), "{w}px {scheme}: {found:#?}");
        }
    }
    b.screenshot(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/ui-screens/keyset-created-1280-dark.png"),
    )
    .await;
    // The QR endpoint is for signed-in users only.
    let anon = common::client()
        .post(srv.url("/api/qr"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(anon.as_u16(), 401);
    // Leaving the tab forgets them.
    b.click("#tabs [data-tab=signer]").await;
    let html = page_secrets_text(&mut b).await;
    assert!(!has_package(&html), "a package left after leaving the tab");
    assert!(
        !html.contains("data:image/svg"),
        "a QR code left after leaving the tab"
    );
}
