// API client: bearer token from localStorage, JSON errors with reasons, SSE over fetch.
// The stream is read with fetch (not EventSource) so the token travels in a header,
// never in a URL that proxies and access logs would record.

const TOKEN_KEY = "smartdeploy.token";

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : describeDetail(detail));
    this.status = status;
    this.detail = detail;
  }
}

function describeDetail(detail) {
  if (Array.isArray(detail)) {
    return detail.map((d) => `${d.field || (d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return String(detail ?? "request failed");
}

export async function api(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = authHeaders(body !== undefined ? { "Content-Type": "application/json" } : {});
  const res = await fetch(url, {
    method, headers, body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let data = null;
  const text = await res.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!res.ok) throw new ApiError(res.status, data && data.detail !== undefined ? data.detail : res.statusText);
  return data;
}

// Live stream: calls onRecord(record) for each SSE event, onState("live"|"connecting"|
// "offline"|"unauthorized") on connection changes; reconnects with backoff. Returns stop().
export function openStream({ onRecord, onState, params = {} }) {
  let stopped = false;
  let controller = null;
  let backoff = 1000;
  const cursor = { lastId: null }; // resume after a reconnect without losing buffered records

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      onState("connecting");
      try {
        const url = new URL("/v1/stream", window.location.origin);
        for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
        const extra = cursor.lastId ? { "Last-Event-ID": cursor.lastId } : {};
        const res = await fetch(url, { headers: authHeaders(extra), signal: controller.signal });
        if (res.status === 401 || res.status === 403) {
          onState("unauthorized");
          await sleep(5000);
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
        onState("live");
        backoff = 1000;
        await readFrames(res.body, onRecord, cursor);
      } catch (err) {
        if (stopped) return;
      }
      onState("offline");
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 15000);
    }
  }

  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}

async function readFrames(body, onRecord, cursor) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = frame.split("\n");
      const id = lines.find((l) => l.startsWith("id: "));
      if (id) cursor.lastId = id.slice(4);
      const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
      if (data.length) {
        try { onRecord(JSON.parse(data.join("\n"))); } catch (e) { console.warn("bad frame", e); }
      }
    }
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
