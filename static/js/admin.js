// The Admin tab: API keys (shown once) and users.

import { $, el, get, post, del, showError, notice, formData, when } from "./api.js";

export async function refreshApiKeys() {
  const body = $("apikeys");
  let data;
  try {
    data = await get("/api/admin/api-keys");
  } catch (e) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "hint" }, e.message)));
    return;
  }
  body.replaceChildren(
    ...(data.apiKeys || []).map((k) =>
      el(
        "tr",
        { dataset: { id: k.id } },
        el("td", {}, el("code", {}, k.prefix)),
        el("td", {}, k.label || ""),
        el("td", {}, k.scope || "sign"),
        el("td", {}, when(k.createdAt)),
        el("td", {}, k.lastUsedAt ? `${when(k.lastUsedAt)} from ${k.lastUsedIp || "?"}` : "never"),
        el("td", {}, k.revokedAt ? `revoked${k.revokedReason ? `: ${k.revokedReason}` : ""}` : "active"),
        el(
          "td",
          {},
          k.revokedAt
            ? ""
            : el("button", { type: "button", class: "danger", onclick: () => revokeKey(k.id) }, "Revoke"),
        ),
      ),
    ),
  );
}

async function revokeKey(id) {
  const reason = prompt("Why is this key revoked? (optional)") ?? "";
  try {
    await post("/api/admin/api-keys/revoke", { apiKeyId: id, reason });
  } catch (e) {
    showError(e);
  }
  await refreshApiKeys();
}

export async function refreshUsers() {
  const body = $("users");
  let data;
  try {
    data = await get("/api/admin/users");
  } catch (e) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "hint" }, e.message)));
    return;
  }
  body.replaceChildren(
    ...(data.users || []).map((u) =>
      el(
        "tr",
        { dataset: { id: u.id } },
        el("td", {}, u.username),
        el("td", {}, u.role || ""),
        el("td", {}, when(u.createdAt)),
        el("td", {}, el("button", { type: "button", class: "danger", onclick: () => deleteUser(u) }, "Delete")),
      ),
    ),
  );
}

async function deleteUser(u) {
  if (!confirm(`Delete ${u.username}? Their sessions end at once.`)) return;
  try {
    await post("/api/admin/users/delete", { userId: u.id });
  } catch (e) {
    showError(e);
  }
  await refreshUsers();
}

export function initAdmin() {
  $("apikey-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const f = formData(ev.target);
      const res = await post("/api/admin/api-keys", { label: f.label || undefined, scope: f.scope || "sign" });
      $("new-apikey-token").textContent = res.apiKey.token;
      $("new-apikey").hidden = false;
      ev.target.reset();
    } catch (e) {
      showError(e);
    }
    await refreshApiKeys();
  });
  $("user-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post("/api/admin/users", formData(ev.target));
      notice("User added.");
      ev.target.reset();
    } catch (e) {
      showError(e);
    }
    await refreshUsers();
  });
}

export async function refreshAdmin() {
  await Promise.allSettled([refreshApiKeys(), refreshUsers()]);
}

// Used by the Configure tab's "remove" button as well.
export { del };
