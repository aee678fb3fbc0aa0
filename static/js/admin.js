// The Admin tab: API keys (the new token shown once, on a click), users, the owner passphrase.

import { $, el, get, post, say, formData, when, secretBox, wipeSecrets } from "./api.js";

function emptyRow(cols, text) {
  return el("tr", {}, el("td", { colspan: cols, class: "hint" }, text));
}

export async function refreshApiKeys() {
  const body = $("apikeys");
  let data;
  try {
    data = await get("/api/admin/api-keys");
  } catch (e) {
    body.replaceChildren(emptyRow(7, e.message));
    return;
  }
  const keys = data.apiKeys || [];
  if (!keys.length) return body.replaceChildren(emptyRow(7, "No API keys."));
  body.replaceChildren(
    ...keys.map((k) => {
      const name = `API key ${k.label || k.prefix}`;
      return el(
        "tr",
        { dataset: { id: k.id } },
        el("td", { "data-label": "Prefix" }, el("code", {}, k.prefix)),
        el("td", { "data-label": "Label" }, k.label || "–"),
        el("td", { "data-label": "Scope" }, k.scope || "sign"),
        el("td", { "data-label": "Created" }, when(k.createdAt)),
        el("td", { "data-label": "Last used" }, k.lastUsedAt ? `${when(k.lastUsedAt)} from ${k.lastUsedIp || "?"}` : "never"),
        el("td", { "data-label": "State" }, k.revokedAt ? `revoked${k.revokedReason ? `: ${k.revokedReason}` : ""}` : "active"),
        el(
          "td",
          { "data-label": "Actions" },
          k.revokedAt ? "–" : el("button", { type: "button", class: "danger", "aria-label": `Revoke ${name}`, onclick: () => revokeKey(k, name) }, "Revoke"),
        ),
      );
    }),
  );
}

async function revokeKey(k, name) {
  const reason = prompt(`Why is ${name} revoked? (optional)`);
  if (reason === null) return;
  const form = $("apikey-create");
  try {
    const r = await post("/api/admin/api-keys/revoke", { apiKeyId: k.id, reason });
    say(form, r && r.message ? r.message : `${name} revoked.`, true);
  } catch (e) {
    say(form, e);
  }
  await refreshApiKeys();
}

export async function refreshUsers() {
  const body = $("users");
  let data;
  try {
    data = await get("/api/admin/users");
  } catch (e) {
    body.replaceChildren(emptyRow(4, e.message));
    return;
  }
  body.replaceChildren(
    ...(data.users || []).map((u) =>
      el(
        "tr",
        { dataset: { id: u.id } },
        el("td", { "data-label": "User" }, u.username),
        el("td", { "data-label": "Role" }, u.role || ""),
        el("td", { "data-label": "Created" }, when(u.createdAt)),
        el("td", { "data-label": "Actions" }, el("button", { type: "button", class: "danger", "aria-label": `Delete user ${u.username}`, onclick: () => deleteUser(u) }, "Delete")),
      ),
    ),
  );
}

async function deleteUser(u) {
  if (!confirm(`Delete ${u.username}? Their sessions end at once.`)) return;
  const form = $("user-create");
  try {
    const r = await post("/api/admin/users/delete", { userId: u.id });
    say(form, r && r.message ? r.message : `${u.username} deleted.`, true);
  } catch (e) {
    say(form, e);
  }
  await refreshUsers();
}

export function initAdmin() {
  $("apikey-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    wipeSecrets();
    try {
      const f = formData(form);
      const res = await post("/api/admin/api-keys", { label: f.label || undefined, scope: f.scope || "sign" });
      $("new-apikey-box").replaceChildren(secretBox("the new API key", res.apiKey.token));
      $("new-apikey").hidden = false;
      form.reset();
      say(form, null);
    } catch (e) {
      say(form, e);
    }
    await refreshApiKeys();
  });
  $("user-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    try {
      const r = await post("/api/admin/users", formData(form));
      form.reset();
      say(form, r && r.message ? r.message : `User ${r && r.user ? r.user.username : ""} added.`, true);
    } catch (e) {
      say(form, e);
    }
    await refreshUsers();
  });
  $("passphrase-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const pass = form.passphrase.value;
    try {
      const r = await post("/api/admin/passphrase", { passphrase: pass || null });
      form.reset();
      say(form, r.hasPassphrase ? "Passphrase set: after each restart the keys stay locked until unlocked." : "No passphrase: the keys unlock by themselves at start.", true);
    } catch (e) {
      form.reset();
      say(form, e);
    }
  });
}

export async function refreshAdmin() {
  await Promise.allSettled([refreshApiKeys(), refreshUsers()]);
}
