// One way to call the API: JSON in and out, the session cookie sent, errors as ApiError.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON (e.g. an empty body): keep null.
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body, headers) => api("POST", path, body ?? {}, headers);
export const put = (path, body) => api("PUT", path, body ?? {});
export const del = (path, body) => api("DELETE", path, body);

// Small DOM helpers shared by the views.
export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else if (v !== false && v != null) node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

export function showError(e) {
  const p = $("error");
  p.textContent = e ? (e.message || String(e)) : "";
  p.hidden = !e;
}

export function notice(text) {
  const p = $("notice");
  p.textContent = text || "";
  p.hidden = !text;
}

export function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

export function when(iso) {
  if (!iso) return "never";
  const d = new Date(typeof iso === "number" ? iso : iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function short(hex) {
  return hex && hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex || "";
}
