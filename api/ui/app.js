// smartdeploy web UI: hash router, live state fed by the SSE stream, overrides dialog.

import { api, getToken, openStream, setToken } from "./api.js";
import { detailView } from "./detail.js";
import { setupOverrideDialog } from "./overrides.js";
import { policiesView } from "./policies.js";
import { auditView, historyView, isActive, liveView } from "./views.js";

const $ = (sel) => document.querySelector(sel);
const view = $("#view");

const state = {
  route: { name: "live" },
  deployments: new Map(), // live: id → summary + kpis/progress/verdict/held
  feed: [],
  liveLoading: true,
  detail: null, detailError: null,
  history: { items: [], next: null, filters: {}, error: null },
  audit: { items: [], next: null, filters: {}, error: null },
  policies: { data: null, error: null, saveError: null, saved: null },
};

// ---------------------------------------------------------------- rendering
let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const r = state.route;
    const open = [...document.querySelectorAll("details[open]")].map((d) => d.parentElement && d.parentElement.textContent.slice(0, 80));
    if (r.name === "live") view.innerHTML = liveView({ deployments: state.deployments, feed: state.feed, loading: state.liveLoading });
    else if (r.name === "detail") view.innerHTML = detailView(state.detail, { error: state.detailError });
    else if (r.name === "history") view.innerHTML = historyView(state.history);
    else if (r.name === "audit") view.innerHTML = auditView(state.audit);
    else if (r.name === "policies") {
      // keep an admin's unsaved edits across live re-renders
      const text = $("#policy-text"); const reason = $("#policy-reason");
      const draft = text && !text.readOnly ? text.value : null; const why = reason ? reason.value : "";
      view.innerHTML = policiesView(state.policies);
      if (draft !== null && $("#policy-text")) $("#policy-text").value = draft;
      if ($("#policy-reason")) $("#policy-reason").value = why;
    }
    if (open.length) {
      document.querySelectorAll("details").forEach((d) => {
        if (open.includes(d.parentElement.textContent.slice(0, 80))) d.open = true;
      });
    }
    document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === (r.name === "detail" ? "live" : r.name)));
  });
}

function banner(message) {
  const el = $("#banner");
  el.hidden = !message;
  el.textContent = message || "";
}

function toast(message, kind = "ok") {
  const el = $("#toast");
  el.textContent = message;
  el.className = `toast toast-${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function handleError(err, where) {
  if (err && (err.status === 401 || err.status === 403)) banner(`${err.message} — enter a token with enough rights above.`);
  return `${where}: ${err.message || err}`;
}

// ---------------------------------------------------------------- data loading
function withLive(summary, detail) {
  const d = { ...summary };
  if (detail) {
    d.kpis = detail.kpis || {};
    d.progress = detail.progress || {};
    d.held = !!detail.held;
    d.verdict = detail.verdicts && detail.verdicts.length ? detail.verdicts[detail.verdicts.length - 1].state : null;
  }
  d.kpis = d.kpis || {};
  d.progress = d.progress || {};
  d.verdict = d.verdict ?? summary.last_verdict ?? null;
  d.held = d.held ?? !!summary.held;
  return d;
}

async function loadLive() {
  try {
    const page = await api("/v1/deployments", { params: { limit: 40 } });
    const fresh = new Map();
    const active = page.items.filter(isActive).slice(0, 16);
    const details = await Promise.all(active.map((s) => api(`/v1/deployments/${encodeURIComponent(s.deployment_id)}`).catch(() => null)));
    page.items.forEach((s) => fresh.set(s.deployment_id, withLive(s, null)));
    active.forEach((s, i) => fresh.set(s.deployment_id, withLive(s, details[i])));
    state.deployments = fresh;
    banner(null);
  } catch (err) {
    handleError(err, "deployments");
  }
  state.liveLoading = false;
  render();
}

const pending = new Set();
async function fetchIntoLive(id, attempt = 0) {
  if (pending.has(id)) return;
  pending.add(id);
  let retry = false;
  try {
    const d = await api(`/v1/deployments/${encodeURIComponent(id)}`);
    state.deployments.set(id, withLive(d, d));
  } catch {
    // not stored yet (the history writer batches): try again shortly, a bounded number of times
    retry = attempt < 15;
  }
  pending.delete(id);
  if (retry) setTimeout(() => { if (!state.deployments.has(id)) fetchIntoLive(id, attempt + 1); }, 1000);
  render();
}

async function loadDetail(id) {
  try {
    state.detail = await api(`/v1/deployments/${encodeURIComponent(id)}`);
    state.detailError = null;
  } catch (err) {
    state.detailError = handleError(err, "deployment");
  }
  render();
}

async function loadHistory(more = false) {
  const h = state.history;
  try {
    const page = await api("/v1/deployments", { params: { ...h.filters, limit: 50, cursor: more ? h.next : undefined } });
    h.items = more ? h.items.concat(page.items) : page.items;
    h.next = page.next;
    h.error = null;
  } catch (err) { h.error = handleError(err, "history"); }
  render();
}

async function loadAudit(more = false) {
  const a = state.audit;
  try {
    const page = await api("/v1/audit", { params: { ...a.filters, limit: 50, cursor: more ? a.next : undefined } });
    a.items = more ? a.items.concat(page.items) : page.items;
    a.next = page.next;
    a.error = null;
  } catch (err) { a.error = handleError(err, "audit"); }
  render();
}

async function loadPolicies() {
  try { state.policies.data = await api("/v1/policies"); state.policies.error = null; }
  catch (err) { state.policies.error = handleError(err, "policies"); }
  render();
}

// ---------------------------------------------------------------- live records
const debounced = new Map();
function debounce(key, fn, ms = 250) {
  clearTimeout(debounced.get(key));
  debounced.set(key, setTimeout(fn, ms));
}

function applyRecord(rec) {
  state.feed.unshift(rec);
  state.feed.length = Math.min(state.feed.length, 50);
  const id = rec.deployment_id || (String(rec.subject || "").startsWith("deployment/") ? rec.subject.slice(11) : null);
  const dep = id ? state.deployments.get(id) : null;
  if (id && !dep) fetchIntoLive(id);
  if (dep) {
    switch (rec.type) {
      case "deployment.started": dep.status = "started"; dep.strategy = rec.strategy || dep.strategy; break;
      case "deployment.step": dep.status = "started"; dep.progress = { step: rec.step, weight: rec.weight, phase: rec.phase }; break;
      case "deployment.finished": dep.status = rec.outcome; dep.outcome = rec.outcome; break;
      case "prediction": dep.p_failure = rec.p_failure; break;
      case "strategy.decision": dep.strategy = dep.strategy || rec.strategy; break;
      case "verdict": dep.verdict = rec.state; break;
      case "rollback.command": dep.rollback_count = (dep.rollback_count || 0) + 1; break;
      case "override": if (rec.action === "hold" || rec.action === "release") dep.held = rec.action === "hold"; break;
      case "kpi.window": {
        const key = `${rec.track}/${rec.kpi}`;
        (dep.kpis[key] = dep.kpis[key] || []).push({ t: rec.window_end, value: rec.value, status: rec.status, track: rec.track, threshold: rec.threshold });
        break;
      }
      default: break;
    }
  }
  const r = state.route;
  if (r.name === "detail" && id === r.id) debounce("detail", () => loadDetail(r.id));
  if (r.name === "audit" && rec.type === "audit") debounce("audit", () => loadAudit());
  if (r.name === "live") render();
}

let stopStream = null;
function connectStream() {
  if (stopStream) stopStream();
  const pill = $("#stream-status");
  stopStream = openStream({
    onRecord: applyRecord,
    onState: (s) => {
      pill.textContent = { live: "live", connecting: "connecting…", offline: "offline", unauthorized: "no access" }[s] || s;
      pill.className = `pill ${s === "live" ? "pill-ok" : s === "unauthorized" ? "pill-bad" : "pill-muted"}`;
      pill.dataset.state = s;
    },
  });
}

// ---------------------------------------------------------------- routing
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").filter(Boolean);
  if (parts[0] === "deployments" && parts[1]) {
    state.route = { name: "detail", id: decodeURIComponent(parts[1]) };
    if (!state.detail || state.detail.deployment_id !== state.route.id) state.detail = null;
    state.detailError = null;
    loadDetail(state.route.id);
  } else if (parts[0] === "history") { state.route = { name: "history" }; loadHistory(); }
  else if (parts[0] === "audit") { state.route = { name: "audit" }; loadAudit(); }
  else if (parts[0] === "policies") { state.route = { name: "policies" }; loadPolicies(); }
  else { state.route = { name: "live" }; loadLive(); }
  render();
}

// ---------------------------------------------------------------- overrides
const openOverride = setupOverrideDialog({
  deploymentId: () => state.route.id,
  onDone: (id, label) => {
    toast(`${label}: recorded`);
    debounce("detail", () => loadDetail(id), 300);
    setTimeout(() => { if (state.route.id === id) loadDetail(id); }, 2500);
  },
});

// ---------------------------------------------------------------- events
view.addEventListener("click", (ev) => {
  const el = ev.target.closest("[data-action]");
  if (!el) return;
  if (el.dataset.action === "override") openOverride(el.dataset.kind);
  if (el.dataset.action === "history-more") loadHistory(true);
  if (el.dataset.action === "audit-more") loadAudit(true);
});

view.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (form.id === "history-filters" || form.id === "audit-filters") {
    ev.preventDefault();
    const filters = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v));
    if (form.id === "history-filters") { state.history.filters = filters; loadHistory(); }
    else { state.audit.filters = filters; loadAudit(); }
  } else if (form.id === "policy-form") {
    ev.preventDefault();
    const p = state.policies;
    try {
      const res = await api("/v1/policies", { method: "PUT", body: { text: $("#policy-text").value, reason: $("#policy-reason").value } });
      p.saveError = null; p.saved = res.version;
      toast("Policies saved");
      loadPolicies();
    } catch (err) { p.saveError = err.message; p.saved = null; render(); }
  }
});

$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setToken($("#token-input").value.trim());
  $("#token-input").value = "";
  $("#token-input").placeholder = getToken() ? "token saved" : "API token";
  banner(null);
  connectStream();
  route();
});

// Safety net for records the store had not written yet when the stream announced them.
setInterval(() => {
  if (document.hidden) return;
  const r = state.route;
  if (r.name === "detail" && state.detail && ["requested", "started"].includes(state.detail.status)) loadDetail(r.id);
}, 5000);

$("#token-input").placeholder = getToken() ? "token saved" : "API token";
window.addEventListener("hashchange", route);
connectStream();
route();
