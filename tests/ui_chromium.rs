//! The web UI in real headless Chromium (Debian's package, installed by scripts/test), driven
//! over the DevTools protocol: onboarding, login, configuring a keyset (the node starts),
//! peers, API keys and logout, all through the page's own forms and buttons.

mod common;

use common::TestServer;
#[path = "common/cdp.rs"]
mod cdp;

use cdp::Browser;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use serde_json::json;

const ADMIN_SECRET: &str = "ui-test-admin-secret-42";
const USER: &str = "owner";
const PASS: &str = "Pw8@Lmzq4Kx";

fn visible(id: &str) -> String {
    format!("document.getElementById('{id}') && !document.getElementById('{id}').hidden")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_login_configure_and_manage_in_the_browser() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let mut b = Browser::launch().await;
    b.goto(&srv.url("/")).await;

    // First start: create the admin account.
    b.wait_for(&visible("view-onboarding"), "the onboarding form")
        .await;
    b.fill("#onboarding-form [name=secret]", ADMIN_SECRET).await;
    b.fill("#onboarding-form [name=username]", USER).await;
    b.fill("#onboarding-form [name=password]", PASS).await;
    b.fill("#onboarding-form [name=confirm]", PASS).await;
    b.click("#onboarding-form button[type=submit]").await;
    // Setup signs the new owner in; log out to try the login form.
    b.wait_for(&visible("view-app"), "the app after onboarding")
        .await;
    b.click("#logout").await;
    b.wait_for(&visible("view-login"), "the login form after logout")
        .await;

    // A wrong password is refused with a message; the right one signs in.
    b.fill("#login-form [name=username]", USER).await;
    b.fill("#login-form [name=password]", "Wrong#Pass9x").await;
    b.click("#login-form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#login-form .msg.err')",
        "an error for a wrong password",
    )
    .await;
    assert!(b.text("#view-login").await.contains("Log in"));
    b.fill("#login-form [name=username]", USER).await;
    b.fill("#login-form [name=password]", PASS).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_for(&visible("view-app"), "the signed-in app").await;
    b.wait_for(
        "document.getElementById('node-state').textContent === 'inactive'",
        "the node shown inactive before configuration",
    )
    .await;

    // Configure a 2-of-3 keyset on the server's own relay: the node starts.
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    b.click("#tabs [data-tab=keyset]").await;
    b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    b.wait_for(&visible("tab-keyset"), "the keyset tab").await;
    b.fill("#credentials-form [name=group_name]", "ui test")
        .await;
    b.fill(
        "#credentials-form [name=group_cred]",
        &encode_group(&ks.group),
    )
    .await;
    b.fill(
        "#credentials-form [name=share_cred]",
        &encode_share(&ks.shares[0]),
    )
    .await;
    // A second relay answers slowly (a proxy delaying every frame by 1.5 s): the page must
    // say so in words, on a phone too.
    let slow = common::proxy::RelayProxy::start(srv.addr).await;
    slow.set(common::proxy::Mode::Delay(
        std::time::Duration::from_millis(1500),
    ));
    let slow_url = format!("ws://{}", slow.addr);
    b.fill(
        "#credentials-form [name=relays]",
        &format!("ws://{}\n{slow_url}", srv.addr),
    )
    .await;
    b.click("#credentials-form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#credentials-form .msg.ok')",
        "the saved message",
    )
    .await;
    // The form reloads from the server, and the share never comes back to the page.
    b.wait_for(
        "document.querySelector('#credentials-form [name=share_cred]').placeholder.startsWith('saved')",
        "the form reloaded with the share marked as saved",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#credentials-form [name=share_cred]').value")
            .await,
        json!("")
    );
    b.click("#tabs [data-tab=signer]").await;
    b.wait_for(
        "document.getElementById('node-state').textContent === 'active'",
        "the node shown active after saving credentials",
    )
    .await;
    // Stored credentials count as credentials in /api/status.
    assert_eq!(
        b.eval("fetch('/api/status').then(r => r.json()).then(s => s.hasCredentials)")
            .await,
        json!(true)
    );
    b.wait_for(
        "document.querySelectorAll('#peers tr[data-pubkey]').length === 2",
        "the two peers listed",
    )
    .await;

    // The slow relay, once the node reports it (its first ping waits past a second), is shown
    // as slow in the Settings relay list and the Signer status, at phone width (390 px)
    // without sideways scrolling; the direct relay is shown connected.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = common::get_json(&srv.url("/api/status")).await;
        let reported = st["relayStates"].as_array().is_some_and(|a| {
            a.iter()
                .any(|r| r["url"] == slow_url.as_str() && r["slow"] == true)
        });
        if reported {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never slow: {st}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    b.viewport(390, 844, true).await;
    b.click("#tabs [data-tab=settings]").await;
    let slow_item = format!("#relay-list li[data-url='{slow_url}'] [data-state]");
    b.wait_for(
        &format!("document.querySelector(\"{slow_item}\")?.dataset.state === 'slow'"),
        "the slow relay marked slow in Settings",
    )
    .await;
    let said = b.text(&slow_item).await;
    assert!(said.contains("slow — replies take"), "{said:?}");
    let direct = b
        .text(&format!(
            "#relay-list li[data-url='ws://{}'] [data-state]",
            srv.addr
        ))
        .await;
    assert!(
        direct.starts_with("connected") && !direct.contains("slow"),
        "{direct:?}"
    );
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "no sideways scrolling at 390 px"
    );
    b.click("#tabs [data-tab=signer]").await;
    let status = b.text("#relays").await;
    assert!(
        status.contains(&format!("{slow_url} (connected but slow — replies take")),
        "{status:?}"
    );
    b.viewport(1280, 900, false).await;

    // Admin: a new API key is shown once, then listed by prefix.
    b.click("#tabs [data-tab=admin]").await;
    b.fill("#apikey-create [name=label]", "ui key").await;
    // The scope is chosen at creation (default `sign`); this key reads peers.
    b.eval("document.querySelector('#apikey-create [name=scope]').value = 'read'")
        .await;
    b.click("#apikey-create button[type=submit]").await;
    b.wait_for(&visible("new-apikey"), "the new API key").await;
    b.click("#new-apikey .show-secret").await;
    let token = b.text("#new-apikey code.secret").await;
    assert_eq!(token.len(), 64, "token {token:?}");
    assert!(token.bytes().all(|c| c.is_ascii_hexdigit()));
    b.wait_for(
        "[...document.querySelectorAll('#apikeys td')].some(td => td.textContent === 'ui key')",
        "the key listed with its label",
    )
    .await;
    b.wait_for(
        "[...document.querySelectorAll('#apikeys td')].some(td => td.textContent === 'read')",
        "the key listed with its scope",
    )
    .await;
    let key_ok = common::client()
        .get(srv.url("/api/peers"))
        .header("X-API-Key", &token)
        .send()
        .await
        .expect("request")
        .status();
    assert!(key_ok.is_success(), "the read key reads peers: {key_ok}");
    let env = common::client()
        .get(srv.url("/api/env"))
        .header("X-API-Key", &token)
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(env, 401, "but not the configuration");

    // Logout returns to the login form, and the session no longer works.
    b.click("#logout").await;
    b.wait_for(&visible("view-login"), "the login form after logout")
        .await;
    let status = b
        .eval("fetch('/api/user/profile').then(r => r.status)")
        .await;
    assert_eq!(status, json!(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_routes_load_the_same_app() {
    let srv = TestServer::start_auth(&["--admin-secret", ADMIN_SECRET]);
    let mut b = Browser::launch().await;
    b.goto(&srv.url("/signer/anything")).await;
    b.wait_for(&visible("view-onboarding"), "the app at a deep link")
        .await;
}

/// First run without ADMIN_SECRET: the URL `igloo setup-code` prints opens the setup page with
/// the code filled in, and the page says where the code comes from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_url_prefills_the_one_time_code() {
    let srv = TestServer::start_auth(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_igloo"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DB_PATH", &srv.data_dir)
        .arg("setup-code")
        .output()
        .expect("igloo setup-code");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut b = Browser::launch().await;
    b.goto(&srv.url(&format!("/?setup={code}"))).await;
    b.wait_for(&visible("view-onboarding"), "the onboarding form")
        .await;
    b.wait_for(
        "!document.getElementById('admin-secret-row').hidden",
        "the setup code field shown",
    )
    .await;
    assert!(
        b.text("#setup-code-hint")
            .await
            .contains("igloo setup-code")
    );
    let filled = b
        .eval("document.querySelector('#onboarding-form [name=secret]').value")
        .await;
    assert_eq!(filled, json!(code));
    b.fill("#onboarding-form [name=username]", USER).await;
    b.fill("#onboarding-form [name=password]", PASS).await;
    b.fill("#onboarding-form [name=confirm]", PASS).await;
    b.click("#onboarding-form button[type=submit]").await;
    // Setup signs the new admin in and goes straight on to the app.
    b.wait_for(&visible("view-app"), "the app after onboarding")
        .await;
}
