// The Keyset tab (admin only): which protocol runs, V2 import, v1 → V2 migration and going
// back to v1, all through /api/keyset*. Secrets (shares, nsec, passwords, bfonboard packages)
// live only in the form fields and in `packages` while the tab is open; clearKeyset() wipes
// them when the user leaves it. Nothing is ever written to localStorage or sessionStorage.

import { $, el, get, post, del, say, formData, short, secretBox, wipeSecrets, bech32, me } from "./api.js";
import { loadCredentials } from "./settings.js";

let isAdmin = false;
// The last migration's packages, kept out of the DOM until the user asks to see one.
let packages = [];
let pendingMigration = null;

export function setKeysetAccess(admin) {
  isAdmin = !!admin;
}

const PROTOCOLS = {
  v1: "v1 (bifrost, kind 20004)",
  v2: "V2 (bifrost-rs, kind 20000)",
};

export function protocolLabel(p) {
  return PROTOCOLS[p] || "none";
}

const SOURCES = {
  migrate: "made on this node",
  bfshare: "imported bfshare",
  bfonboard: "imported bfonboard",
  bfprofile: "imported bfprofile",
};

function describeV2(v) {
  if (!v) return "none";
  const from = SOURCES[v.source] || v.source;
  if (v.pendingOnboard) return `bfonboard waiting for its group from peer ${short(v.peerPk)} (${from})`;
  if (!v.complete) return `share without its group package: import the group (${from})`;
  return `${short(v.npub)}: member ${v.idx}, ${v.threshold} of ${v.members} (${from})`;
}

// One line for the Signer tab: which keyset the node is set to run.
function summary(k) {
  if (k.protocol === "v2") return `V2 keyset ${describeV2(k.v2)}${k.v1Configured ? "; v1 credentials still stored" : ""}`;
  if (k.protocol === "v1") return `v1 keyset (bfgroup/bfshare)${k.v2 ? `; V2 keyset stored: ${describeV2(k.v2)}` : ""}`;
  return "none configured";
}

// Fills the Signer tab's protocol and keyset rows from a /api/status answer (and, for an
// admin, /api/keyset; other users see only what /api/status says).
export async function refreshProtocol(status) {
  const p = status && status.nodeActive ? status.protocol : null;
  $("protocol").textContent = p ? protocolLabel(p) : "– (no node running)";
  $("protocol").dataset.protocol = p || "none";
  $("peers-hint-v1").hidden = p === "v2";
  $("peers-hint-v2").hidden = p !== "v2";
  if (!isAdmin) {
    $("keyset-info").textContent = status && status.hasCredentials ? "configured" : "none configured";
    return;
  }
  try {
    $("keyset-info").textContent = summary(await get("/api/keyset"));
  } catch (e) {
    $("keyset-info").textContent = e.message;
  }
}

async function refreshCurrent() {
  try {
    const k = await get("/api/keyset");
    $("ks-protocol").textContent = `${protocolLabel(k.protocol)}, node ${k.nodeActive ? "active" : "inactive"}`;
    $("ks-protocol").dataset.protocol = k.protocol;
    $("ks-v1").textContent = k.v1Configured ? "stored" : "none";
    $("ks-v2").textContent = describeV2(k.v2);
    $("revert-start").disabled = !k.v2;
    return k;
  } catch (e) {
    $("ks-protocol").textContent = e.message;
    return null;
  }
}

function formError(id, e) {
  say(id, e);
}

// Plain words for the API's error codes; the server's own message otherwise.
function explain(e, what) {
  const code = e && e.body && e.body.code;
  const nothing = `Nothing was changed.`;
  switch (code) {
    case "DECRYPT_FAILED":
      return new Error(`Wrong password, or the package is damaged. ${nothing}`);
    case "INVALID_PACKAGE":
      return new Error(`This is not a usable V2 ${what}: ${e.message}. ${nothing}`);
    case "WEAK_PASSWORD":
      return new Error(`${e.message}. ${nothing}`);
    case "INVALID_CREDENTIALS":
    case "INVALID_SHAPE":
    case "INVALID_RELAYS":
    case "INVALID_REQUEST":
      return new Error(`${e.message}. ${nothing}`);
    default:
      return e;
  }
}

function lines(text) {
  return (text || "").split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function shareInput() {
  return el(
    "label",
    {},
    "v1 share ",
    el("input", { name: "share", type: "password", autocomplete: "off", placeholder: "bfshare1…", spellcheck: "false" }),
  );
}

function setSource(source) {
  $("migrate-from-shares").hidden = source !== "shares";
  $("migrate-from-nsec").hidden = source !== "nsec";
}

// Reads the migrate form into an API body, or throws a readable error.
function migrationBody(form) {
  const f = formData(form);
  const body = {};
  if (f.source === "nsec") {
    if (!f.nsec.trim()) throw new Error("Paste the nsec.");
    body.nsec = f.nsec.trim();
  } else {
    const shares = [...form.querySelectorAll("[name=share]")].map((i) => i.value.trim()).filter(Boolean);
    if (!f.group.trim() || !shares.length) throw new Error("Paste the group credential and at least the threshold of its shares.");
    body.group = f.group.trim();
    body.shares = shares;
  }
  if ((f.password || "").length < 8) throw new Error("The package password needs at least 8 characters.");
  if (f.password !== f.confirm) throw new Error("The passwords do not match.");
  body.password = f.password;
  if (f.threshold) body.threshold = Number(f.threshold);
  if (f.members) body.members = Number(f.members);
  if (f.name.trim()) body.name = f.name.trim();
  const relays = lines(f.relays);
  if (relays.length) body.relays = relays;
  return body;
}

function renderPackages(list, into) {
  $(into).replaceChildren(
    ...list.map((p) =>
      el("li", { dataset: { idx: p.idx }, class: "card" },
        el("p", {}, `Package for member ${p.idx}`),
        secretBox(`the package for member ${p.idx}`, p.bfonboard, { qr: true })),
    ),
  );
}

// Forgets every secret of this tab: form fields, confirm steps, the migration's packages.
export function clearKeyset() {
  packages = [];
  wipeSecrets();
  $("create-form").reset();
  $("create-form").hidden = false;
  $("create-result").hidden = true;
  $("create-packages").replaceChildren();
  formError("create-form", null);
  pendingMigration = null;
  for (const id of ["migrate-form", "import-form"]) $(id).reset();
  const list = $("migrate-shares");
  while (list.children.length > 2) list.lastElementChild.remove();
  setSource("shares");
  $("onboard-packages").replaceChildren();
  $("migrate-result").hidden = true;
  $("migrate-confirm").hidden = true;
  $("revert-confirm").hidden = true;
  $("migrate-form").hidden = false;
  formError("migrate-error", null);
  formError("import-error", null);
}

// The migration keeps the relays the node uses now unless the user changes them (the API's
// default is the RELAYS setting, which the stored credentials may override). Relays are not
// secret; defaultValue survives the form resets of clearKeyset().
async function prefillRelays() {
  let relays = [];
  try {
    if (me.dbUser) relays = (await get("/api/user/relays")).relays || [];
  } catch {
    // Headless: fall back to what the node reports.
  }
  if (!relays.length) {
    try {
      relays = (await get("/api/status")).relays || [];
    } catch {
      relays = [];
    }
  }
  for (const field of [$("migrate-form").relays, $("create-form").relays]) {
    // Relays typed before this answer arrived are the user's: keep them.
    const untouched = field.value === field.defaultValue;
    field.defaultValue = relays.join("\n");
    if (untouched) field.value = field.defaultValue;
  }
}

export async function enterKeyset() {
  const panel = $("tab-keyset");
  panel.setAttribute("aria-busy", "true");
  clearKeyset();
  const jobs = [loadCredentials()];
  if (isAdmin) jobs.push(refreshCurrent(), prefillRelays());
  await Promise.allSettled(jobs);
  panel.setAttribute("aria-busy", "false");
}

// A fresh secret key below the curve order, as nsec (crypto.getRandomValues).
const ORDER = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
function freshNsec() {
  for (;;) {
    const b = crypto.getRandomValues(new Uint8Array(32));
    const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    if (hex !== "0".repeat(64) && hex < ORDER) {
      const n = bech32("nsec", b);
      b.fill(0);
      return n;
    }
  }
}

export function initKeyset(onChange) {
  const migrateForm = $("migrate-form");
  for (const r of migrateForm.querySelectorAll("[name=source]")) r.addEventListener("change", () => setSource(r.value));
  $("migrate-add-share").addEventListener("click", () => $("migrate-shares").append(shareInput()));

  // Step 1: check the form and ask for confirmation; nothing is sent yet.
  migrateForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    formError("migrate-error", null);
    try {
      pendingMigration = migrationBody(migrateForm);
    } catch (e) {
      formError("migrate-error", e);
      return;
    }
    const from = pendingMigration.nsec ? "the nsec" : `${pendingMigration.shares.length} v1 shares`;
    $("migrate-confirm-text").textContent =
      `From ${from}, make a V2 keyset with the same npub and switch this node to it now. The v1 node stops; other v1 devices can no longer sign with this node.`;
    $("migrate-confirm").hidden = false;
    $("migrate-go").focus();
  });
  $("migrate-cancel").addEventListener("click", () => {
    pendingMigration = null;
    $("migrate-confirm").hidden = true;
  });
  // Step 2: migrate, wipe the form, keep the packages hidden.
  $("migrate-go").addEventListener("click", async () => {
    if (!pendingMigration) return;
    const body = pendingMigration;
    pendingMigration = null;
    $("migrate-go").disabled = true;
    say("migrate-error", "Moving… sealing the packages takes a few seconds.", true);
    try {
      const r = await post("/api/keyset/migrate", body);
      migrateForm.reset();
      setSource("shares");
      packages = (r.onboard || []).map((o) => ({ idx: o.idx, bfonboard: o.bfonboard }));
      formError("migrate-error", null);
      $("migrate-confirm").hidden = true;
      migrateForm.hidden = true;
      $("migrate-summary").textContent =
        `Done: this node is member ${r.idx} of a ${r.threshold}-of-${r.members} V2 keyset for ${r.npub}` +
        `${r.nodeActive ? ", and its V2 node runs." : "; its V2 node is not running yet."}`;
      $("migrate-warning").textContent = r.warning;
      renderPackages(packages, "onboard-packages");
      packages = [];
      $("migrate-result").hidden = false;
    } catch (e) {
      $("migrate-confirm").hidden = true;
      formError("migrate-error", explain(e, "keyset"));
    } finally {
      body.password = "";
      body.nsec = "";
      body.shares = [];
      $("migrate-go").disabled = false;
    }
    await refreshCurrent();
    onChange();
  });
  $("migrate-done").addEventListener("click", () => clearKeyset());

  $("import-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError("import-error", null);
    const form = ev.target;
    const f = formData(form);
    const pkg = (f.package || "").trim();
    if (!/^bf(share|onboard|profile)1/i.test(pkg)) {
      formError("import-error", new Error("A V2 package starts with bfshare1, bfonboard1 or bfprofile1."));
      return;
    }
    if (/^bfshare1/i.test(pkg) && !f.group.trim()) {
      formError("import-error", new Error("A bfshare needs its group package (JSON)."));
      return;
    }
    const body = { package: pkg, password: f.password };
    if (f.group.trim()) body.group = f.group.trim();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const r = await post("/api/keyset/import", body);
      form.reset();
      say(form, r.message || "Imported.", true);
    } catch (e) {
      // Keep the package so a mistyped password can be retyped; the password itself goes.
      form.password.value = "";
      formError("import-error", explain(e, "package"));
    } finally {
      body.password = "";
      body.package = "";
      submit.disabled = false;
    }
    await refreshCurrent();
    onChange();
  });

  $("create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const f = formData(form);
    const t = Number(f.threshold), n = Number(f.members);
    if (!(t >= 1 && n >= 2 && t <= n)) return formError("create-form", new Error("The signatures needed must be between 1 and the number of devices (at least 2)."));
    if ((f.password || "").length < 8) return formError("create-form", new Error("The package password needs at least 8 characters."));
    if (f.password !== f.confirm) return formError("create-form", new Error("The passwords do not match."));
    const body = { nsec: freshNsec(), threshold: t, members: n, password: f.password };
    if (f.name.trim()) body.name = f.name.trim();
    const relays = f.relays.split(/[\s,]+/).filter(Boolean);
    if (relays.length) body.relays = relays;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    say(form, "Creating… sealing the packages takes a few seconds.", true);
    try {
      const r = await post("/api/keyset/migrate", body);
      form.reset();
      formError("create-form", null);
      form.hidden = true;
      $("create-summary").textContent =
        `Done: a new ${r.threshold}-of-${r.members} V2 keyset for ${r.npub}. This node is member ${r.idx}` +
        `${r.nodeActive ? " and signs now." : "; its node is not running yet."}`;
      renderPackages((r.onboard || []).map((o) => ({ idx: o.idx, bfonboard: o.bfonboard })), "create-packages");
      $("create-result").hidden = false;
    } catch (e) {
      formError("create-form", explain(e, "keyset"));
    } finally {
      body.nsec = "";
      body.password = "";
      submit.disabled = false;
    }
    await refreshCurrent();
    onChange();
  });
  $("create-done").addEventListener("click", () => clearKeyset());

  $("revert-start").addEventListener("click", async () => {
    const k = await refreshCurrent();
    $("revert-confirm-text").textContent = k && k.v1Configured
      ? "Delete this node's V2 keyset and run the stored v1 credentials again? Without a copy elsewhere, this node's V2 share is gone for good."
      : "Delete this node's V2 keyset? No v1 credentials are stored, so the node stops. Without a copy elsewhere, this node's V2 share is gone for good.";
    $("revert-confirm").hidden = false;
  });
  $("revert-cancel").addEventListener("click", () => ($("revert-confirm").hidden = true));
  $("revert-go").addEventListener("click", async () => {
    $("revert-go").disabled = true;
    try {
      const r = await del("/api/keyset");
      say("revert-msg", r.removed ? `V2 keyset deleted; ${r.nodeActive ? "the v1 node runs again." : "no node runs."}` : "There was no V2 keyset.", true);
    } catch (e) {
      say("revert-msg", e);
      $("revert-go").disabled = false;
      return;
    }
    $("revert-go").disabled = false;
    $("revert-confirm").hidden = true;
    await refreshCurrent();
    onChange();
  });

}
