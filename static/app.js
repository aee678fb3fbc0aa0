// The igloo web UI: first run, login, unlock and the signed-in tabs. No build step, no
// framework; every request goes through js/api.js. Logging out, a 401 from any call or a
// session timeout wipes every secret from the page and closes the event stream (wipe()).

import { $, get, post, del, me, say, clearMessages, formData, onSessionEnd, abortCalls, wipeSecrets, wipeFields, secretBox } from "./js/api.js";
import { initSigner, refreshSigner, refreshStatus, startLive, stopLive, wipeSigner } from "./js/signer.js";
import { initAdmin, refreshAdmin } from "./js/admin.js";
import { initKeyset, enterKeyset, clearKeyset, setKeysetAccess } from "./js/keyset.js";
import { initSettings, enterSettings, loadCredentials } from "./js/settings.js";
import { enterApps, leaveApps } from "./js/nip46.js";

const views = ["onboarding", "login", "unlock", "app"];
const TITLES = { onboarding: "Set up", login: "Log in", unlock: "Unlock" };
const TAB_TITLES = { signer: "Signer", keyset: "Keyset", settings: "Settings", apps: "Connect apps", admin: "Admin", recover: "Recover" };
let profile = null;
let currentTab = null;
// A setup code from the address bar (?setup=…), kept only until the account exists.
let setupCode = null;

function show(view) {
  for (const v of views) $(`view-${v}`).hidden = v !== view;
  $("tabs").hidden = view !== "app";
  $("logout").hidden = view !== "app";
  document.body.dataset.view = view;
  if (TITLES[view]) document.title = `${TITLES[view]} · igloo`;
}

function tabButtons() {
  return [...document.querySelectorAll("#tabs [role=tab]")].filter((b) => !b.hidden);
}

// Tab semantics for every tab button and panel, including ones other modules add
// (<button data-tab="x"> in #tabs and <div id="tab-x" class="tab">).
function tabSemantics() {
  for (const b of document.querySelectorAll("#tabs [data-tab]")) {
    b.setAttribute("role", "tab");
    if (!b.id) b.id = `tabbtn-${b.dataset.tab}`;
    b.setAttribute("aria-controls", `tab-${b.dataset.tab}`);
    const panel = $(`tab-${b.dataset.tab}`);
    if (panel) {
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", b.id);
      if (!panel.hasAttribute("tabindex")) panel.tabIndex = -1;
    }
  }
}

function tab(name, focus = false) {
  // Leaving a tab forgets every secret typed or shown there, and its messages.
  if (currentTab && currentTab !== name) {
    leaveTab(currentTab);
    clearMessages();
  }
  currentTab = name;
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${name}`;
  for (const b of document.querySelectorAll("#tabs [role=tab]")) {
    const on = b.dataset.tab === name;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
    if (on && focus) b.focus();
  }
  const btn = document.querySelector(`#tabs [data-tab="${name}"]`);
  document.title = `${TAB_TITLES[name] || (btn ? btn.textContent.trim() : name)} · igloo`;
  if (name === "admin") refreshAdmin();
  if (name === "settings") enterSettings();
  if (name === "keyset") enterKeyset();
  if (name === "signer") refreshSigner();
  if (name === "apps") enterApps();
}

function leaveTab(name) {
  if (name === "keyset") clearKeyset();
  if (name === "apps") leaveApps();
  if (name === "recover" || name === "admin" || name === "settings") {
    wipeSecrets();
    wipeFields($(`tab-${name}`));
    $("recovered").hidden = true;
    $("new-apikey").hidden = true;
  }
}

// Forgets everything of the signed-in user: secrets, typed fields, messages, the event
// stream, the event log and every timer.
function wipe() {
  abortCalls();
  stopLive();
  leaveApps(true);
  wipeSecrets();
  clearKeyset();
  wipeFields(document);
  wipeSigner();
  for (const id of ["apikeys", "users", "relay-list"]) $(id).replaceChildren();
  $("recovered").replaceChildren();
  $("recovered").hidden = true;
  $("new-apikey").hidden = true;
  $("apikey-login").open = false;
  clearMessages();
  currentTab = null;
  profile = null;
  me.dbUser = false;
  me.admin = false;
}

async function endSession(message) {
  // Several calls in flight may be refused; the first one ends the session.
  if (document.body.dataset.view !== "app") return;
  wipe();
  await showLogin();
  say("session-msg", message);
}

async function boot() {
  let onboarding;
  try {
    onboarding = await get("/api/onboarding/status", { auth: false });
  } catch (e) {
    if (e.status !== 404) {
      say("session-msg", e);
      return;
    }
    onboarding = { initialized: true }; // headless: no onboarding
  }
  if (!onboarding.initialized) {
    const needsCode = onboarding.setupCode || (onboarding.hasAdminSecret && !onboarding.skipAdminValidation);
    $("admin-secret-row").hidden = !needsCode && !setupCode;
    if (setupCode) $("onboarding-form").secret.value = setupCode;
    show("onboarding");
    return;
  }
  setupCode = null;
  try {
    const s = await get("/api/status", { auth: false });
    if (s.locked) {
      show("unlock");
      return;
    }
  } catch {
    // The status is shown in the app; go on.
  }
  profile = await whoAmI();
  if (!profile) {
    await showLogin();
    return;
  }
  enterApp();
}

// The signed-in caller: a user (profile) or an API-key session, or null. /api/auth/status
// describes the caller, so a signed-out page makes no refused request.
async function whoAmI() {
  let s;
  try {
    s = await get("/api/auth/status", { auth: false });
  } catch {
    return null;
  }
  if (!s.authenticated) return null;
  if (!s.dbUser) return { username: "API key", role: s.admin ? "admin" : "user", apiKey: true };
  try {
    return await get("/api/user/profile", { auth: false });
  } catch {
    return null;
  }
}

async function showLogin() {
  show("login");
  try {
    const s = await get("/api/auth/status", { auth: false });
    $("auth-methods").textContent = `Sign-in methods: ${(s.methods || []).join(", ") || "none"}; sessions end after ${Math.round((s.sessionTimeout || 0) / 60)} minutes without activity.`;
  } catch {
    $("auth-methods").textContent = "";
  }
}

// Idle expiry: the page's own polling keeps a server session alive, so the page itself ends
// a session after the server's SESSION_TIMEOUT without a key press or touch.
let idleLimit = 0;
let lastActive = Date.now();
for (const e of ["pointerdown", "keydown"]) document.addEventListener(e, () => (lastActive = Date.now()), { passive: true, capture: true });
function idleMessage() {
  const minutes = Math.round(idleLimit / 60000);
  return `You were logged out after ${minutes} minute${minutes === 1 ? "" : "s"} without activity.`;
}
// The server ends an idle session on its own too (and closes the event stream): whichever
// notices first, an idle owner is told why.
const idleOver = () => idleLimit > 0 && Date.now() - lastActive >= idleLimit - 5000;
setInterval(async () => {
  if (document.body.dataset.view !== "app" || !idleLimit || Date.now() - lastActive < idleLimit) return;
  await endSession(idleMessage());
  post("/api/auth/logout", {}, {}, { auth: false }).catch(() => {});
}, 1000);

function enterApp(first = false) {
  show("app");
  lastActive = Date.now();
  get("/api/auth/status", { auth: false })
    .then((s) => (idleLimit = (Number(s.sessionTimeout) || 0) * 1000))
    .catch(() => (idleLimit = 0));
  const admin = !(profile && profile.role && profile.role !== "admin");
  me.admin = admin;
  me.dbUser = !!(profile && !profile.apiKey);
  for (const id of ["relay-add", "password-form"]) $(id).hidden = !me.dbUser;
  for (const i of $("env-form").querySelectorAll("input, button")) i.disabled = !admin;
  for (const b of document.querySelectorAll("[data-admin]")) b.hidden = !admin;
  // Keyset credentials and passwords belong to database users.
  $("credentials-section").hidden = !!(profile && profile.apiKey);
  setKeysetAccess(admin);
  startLive();
  tab(first ? "keyset" : "signer");
}

function bind() {
  tabSemantics();
  onSessionEnd(() => endSession(idleOver() ? idleMessage() : "Your session ended. Log in again."));

  // Real tabs: arrow keys, Home and End move between them.
  $("tabs").addEventListener("keydown", (ev) => {
    const list = tabButtons();
    const i = list.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (ev.key === "ArrowRight") j = (i + 1) % list.length;
    if (ev.key === "ArrowLeft") j = (i - 1 + list.length) % list.length;
    if (ev.key === "Home") j = 0;
    if (ev.key === "End") j = list.length - 1;
    if (j === null) return;
    ev.preventDefault();
    tab(list[j].dataset.tab, true);
  });
  for (const b of document.querySelectorAll("#tabs [role=tab]")) b.addEventListener("click", () => tab(b.dataset.tab));
  $("go-keyset").addEventListener("click", () => tab("keyset", true));
  $("go-unlock").addEventListener("click", () => {
    wipe();
    show("unlock");
  });

  $("onboarding-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const f = formData(form);
    if (f.password !== f.confirm) {
      say(form, "The passwords do not match.");
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const headers = f.secret ? { Authorization: `Bearer ${f.secret.trim()}` } : {};
      await post("/api/onboarding/setup", { username: f.username, password: f.password }, headers, { auth: false });
      // Straight on: sign in with the new account and add the keyset.
      await post("/api/auth/login", { username: f.username, password: f.password }, {}, { auth: false });
      wipeFields(form);
      setupCode = null;
      say(form, null);
      profile = await whoAmI();
      if (profile) enterApp(true);
      else await boot();
    } catch (e) {
      say(form, e);
    } finally {
      submit.disabled = false;
    }
  });

  const login = (extra) => async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await post("/api/auth/login", formData(form), {}, { auth: false });
      wipeFields(form);
      say(form, null);
      say("session-msg", null);
      profile = await whoAmI();
      if (!profile) throw new Error("Logged in, but the session was not accepted. Try again.");
      extra && extra();
      enterApp();
    } catch (e) {
      form.querySelector("input[type=password]").value = "";
      say(form, e);
    } finally {
      submit.disabled = false;
    }
  };
  $("login-form").addEventListener("submit", login());
  $("apikey-form").addEventListener("submit", login(() => ($("apikey-login").open = false)));

  $("unlock-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    try {
      await post("/api/unlock", formData(form), {}, { auth: false });
      wipeFields(form);
      say(form, null);
      await boot();
    } catch (e) {
      form.passphrase.value = "";
      say(form, e);
    }
  });

  $("logout").addEventListener("click", async () => {
    wipe();
    try {
      await post("/api/auth/logout", {}, {}, { auth: false });
    } catch {
      // Logged out in the page either way.
    }
    await showLogin();
    $("login-form").username.focus();
  });

  $("recover-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const f = formData(form);
    wipeSecrets();
    $("recovered").replaceChildren();
    try {
      const r = await post("/api/recover", {
        groupCredential: f.group.trim(),
        shareCredentials: f.shares.split(/[\s,]+/).filter(Boolean),
      });
      wipeFields(form);
      say(form, null);
      $("recovered").replaceChildren(secretBox("the nsec", r.nsec));
      $("recovered").hidden = false;
    } catch (e) {
      say(form, e);
    }
  });

  $("credentials-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const f = formData(form);
    const body = { relays: f.relays.split(/[\s,]+/).filter(Boolean) };
    if (f.group_name) body.group_name = f.group_name;
    if (f.group_cred) body.group_cred = f.group_cred.trim();
    if (f.share_cred) body.share_cred = f.share_cred.trim();
    try {
      const r = await post("/api/user/credentials", body);
      await loadCredentials();
      say(form, r && r.message ? r.message : "Saved. The node restarts with these credentials.", true);
      await refreshStatus();
    } catch (e) {
      say(form, e);
    }
  });
  $("clear-credentials").addEventListener("click", async () => {
    const form = $("credentials-form");
    if (!confirm("Remove this node's keyset? The node stops signing.")) return;
    try {
      const r = await del("/api/user/credentials");
      await loadCredentials();
      say(form, r && r.message ? r.message : "Credentials removed; the node stopped.", true);
    } catch (e) {
      say(form, e);
    }
  });

  initSigner();
  initAdmin();
  initSettings();
  initKeyset(() => refreshSigner());
  window.addEventListener("pagehide", wipe);
  // Back from the browser's page cache: the page was wiped on the way out, so start again.
  window.addEventListener("pageshow", (e) => e.persisted && boot());
}

// ?setup=<code>: keep it in memory and take it out of the address bar (and history) at once.
const params = new URLSearchParams(location.search);
if (params.has("setup")) {
  setupCode = params.get("setup");
  params.delete("setup");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
}

bind();
boot();
