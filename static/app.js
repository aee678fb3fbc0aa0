// The igloo web UI: onboarding, login, and the signed-in tabs. No build step, no framework;
// every request goes through js/api.js.

import { $, get, post, del, showError, notice, formData, ApiError } from "./js/api.js";
import { initSigner, refreshSigner, refreshStatus, connectEvents } from "./js/signer.js";
import { initAdmin, refreshAdmin } from "./js/admin.js";
import { initKeyset, enterKeyset, clearKeyset, setKeysetAccess } from "./js/keyset.js";
import { enterApps, leaveApps } from "./js/nip46.js";

const views = ["onboarding", "login", "app"];
let profile = null;
let timer = null;

function show(view) {
  for (const v of views) $(`view-${v}`).hidden = v !== view;
  $("tabs").hidden = view !== "app";
  document.body.dataset.view = view;
}

let currentTab = null;

function tab(name) {
  // Leaving the Keyset tab forgets every secret typed or shown there.
  if (currentTab === "keyset" && name !== "keyset") clearKeyset();
  if (currentTab === "apps" && name !== "apps") leaveApps();
  currentTab = name;
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${name}`;
  for (const b of document.querySelectorAll("#tabs [data-tab]")) b.setAttribute("aria-current", String(b.dataset.tab === name));
  if (name === "admin") refreshAdmin();
  if (name === "configure") loadCredentials();
  if (name === "keyset") enterKeyset();
  if (name === "apps") enterApps();
}

async function boot() {
  showError(null);
  let onboarding;
  try {
    onboarding = await get("/api/onboarding/status");
  } catch (e) {
    showError(e);
    return;
  }
  if (!onboarding.initialized) {
    $("admin-secret-row").hidden = !!onboarding.skipAdminValidation;
    show("onboarding");
    return;
  }
  try {
    profile = await get("/api/user/profile");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showError(e);
    await showLogin();
    return;
  }
  enterApp();
}

async function showLogin() {
  show("login");
  try {
    const s = await get("/api/auth/status");
    $("auth-methods").textContent = `Sign-in methods: ${(s.methods || []).join(", ") || "none"}; sessions last ${Math.round((s.sessionTimeout || 0) / 60)} min of inactivity.`;
  } catch {
    $("auth-methods").textContent = "";
  }
}

function enterApp() {
  show("app");
  const admin = !(profile && profile.role && profile.role !== "admin");
  for (const b of document.querySelectorAll("[data-admin]")) b.hidden = !admin;
  setKeysetAccess(admin);
  tab("signer");
  refreshSigner();
  connectEvents();
  clearInterval(timer);
  timer = setInterval(() => refreshSigner().catch(() => {}), 5000);
}

async function loadCredentials() {
  const form = $("credentials-form");
  try {
    const c = await get("/api/user/credentials");
    form.group_name.value = c.group_name || "";
    // Credentials are never sent back to the page; an empty field keeps the stored value.
    form.group_cred.value = "";
    form.share_cred.value = "";
    form.group_cred.placeholder = c.hasGroupCredential ? "saved (leave empty to keep)" : "bfgroup1…";
    form.share_cred.placeholder = c.hasShareCredential ? "saved (leave empty to keep)" : "bfshare1…";
    form.relays.value = (c.relays || []).join("\n");
    $("credentials-state").textContent = c.savedAt ? `Saved ${new Date(c.savedAt).toLocaleString()}.` : "";
  } catch (e) {
    if (e.status === 404) $("credentials-state").textContent = "No keyset configured yet.";
    else showError(e);
  }
}

function lines(text) {
  return (text || "").split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function bind() {
  $("onboarding-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = formData(ev.target);
    if (f.password !== f.confirm) {
      showError(new Error("The passwords do not match."));
      return;
    }
    try {
      const headers = f.secret ? { Authorization: `Bearer ${f.secret}` } : {};
      await post("/api/onboarding/setup", { username: f.username, password: f.password }, headers);
      ev.target.reset();
      showError(null);
      notice("Account created. Log in.");
      await boot();
    } catch (e) {
      showError(e);
    }
  });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post("/api/auth/login", formData(ev.target));
      ev.target.reset();
      showError(null);
      notice(null);
      await boot();
    } catch (e) {
      showError(e);
    }
  });
  $("apikey-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post("/api/auth/login", formData(ev.target));
      ev.target.reset();
      await boot();
    } catch (e) {
      showError(e);
    }
  });
  $("logout").addEventListener("click", async () => {
    try {
      await post("/api/auth/logout");
    } catch {
      // Logged out either way.
    }
    clearInterval(timer);
    clearKeyset();
    currentTab = null;
    profile = null;
    await showLogin();
  });
  for (const b of document.querySelectorAll("#tabs [data-tab]")) b.addEventListener("click", () => tab(b.dataset.tab));
  $("credentials-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = formData(ev.target);
    const body = { relays: lines(f.relays) };
    if (f.group_name) body.group_name = f.group_name;
    if (f.group_cred) body.group_cred = f.group_cred.trim();
    if (f.share_cred) body.share_cred = f.share_cred.trim();
    try {
      await post("/api/user/credentials", body);
      notice("Saved. The node restarts with these credentials.");
      await loadCredentials();
      await refreshStatus();
    } catch (e) {
      showError(e);
    }
  });
  $("clear-credentials").addEventListener("click", async () => {
    if (!confirm("Remove this node's keyset? The node stops signing.")) return;
    try {
      await del("/api/user/credentials");
      notice("Credentials removed; the node stopped.");
      await loadCredentials();
    } catch (e) {
      showError(e);
    }
  });
  $("password-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post("/api/user/password", formData(ev.target));
      ev.target.reset();
      notice("Password changed. Other sessions were signed out.");
    } catch (e) {
      showError(e);
    }
  });
  $("recover-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = formData(ev.target);
    try {
      const r = await post("/api/recover", { groupCredential: f.group.trim(), shareCredentials: lines(f.shares) });
      $("nsec").textContent = r.nsec;
      $("recovered").hidden = false;
    } catch (e) {
      showError(e);
    }
  });
  $("hide-nsec").addEventListener("click", () => {
    $("nsec").textContent = "";
    $("recovered").hidden = true;
  });
  initSigner();
  initAdmin();
  initKeyset(() => refreshSigner().catch(() => {}));
}

bind();
boot();
