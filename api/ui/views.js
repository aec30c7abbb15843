// Views as pure functions of data → HTML strings (events are wired in app.js by delegation).

import { esc, fmtTime, pct } from "./charts.js";
import { describe, heldBadge, kpiSparks, progressBar, riskBadge, statusBadge, verdictBadge } from "./parts.js";

const ACTIVE = new Set(["requested", "started"]);

export function isActive(dep) {
  return ACTIVE.has(dep.status);
}

export function liveView({ deployments, feed, loading }) {
  const all = [...deployments.values()].sort((a, b) => String(b.requested_at).localeCompare(String(a.requested_at)));
  const active = all.filter(isActive);
  const done = all.filter((d) => !isActive(d)).slice(0, 15);
  const cards = active.length ? active.map((d) => `
    <article class="card dep-card" data-testid="live-card" data-deployment="${esc(d.deployment_id)}">
      <div class="card-head">
        <a href="#/deployments/${encodeURIComponent(d.deployment_id)}" class="dep-title"><strong>${esc(d.app)}</strong> <span class="mono">${esc(d.version || "")}</span></a>
        <div class="badges">${heldBadge(d.held)}${verdictBadge(d.verdict)}${statusBadge(d.status)}</div>
      </div>
      <div class="meta small muted">${esc(d.environment || "")} · ${esc(d.strategy || "strategy pending")} · ${riskBadge(d.p_failure)} · <span class="mono">${esc(d.deployment_id)}</span></div>
      ${progressBar(d.progress, d.status)}
      ${kpiSparks(d.kpis)}
    </article>`).join("") : `<div class="empty">${loading ? "Loading…" : "No deployment in progress. New ones appear here live."}</div>`;
  const rows = done.map((d) => deploymentRow(d)).join("");
  const events = feed.slice(0, 14).map((r) => `<li><span class="mono small muted">${esc(fmtTime(r.occurred_at).slice(11))}</span> <span class="pill pill-muted small">${esc(r.type)}</span> ${esc(r.app || "")} ${esc(describe(r))}</li>`).join("");
  return `
    <section class="grid-live">
      <div>
        <h1>Live deployments <span class="count">${active.length}</span></h1>
        <div class="cards" data-testid="live-list">${cards}</div>
        <h2>Recently finished</h2>
        ${rows ? `<table class="table"><thead>${deploymentHead()}</thead><tbody>${rows}</tbody></table>` : `<p class="muted">None yet.</p>`}
      </div>
      <aside class="card feed">
        <h2>Event feed</h2>
        <ul class="feed-list" data-testid="feed">${events || `<li class="muted">Waiting for events…</li>`}</ul>
      </aside>
    </section>`;
}

function deploymentHead() {
  return `<tr><th>App</th><th>Version</th><th>Env</th><th>Strategy</th><th class="num">Risk</th><th>Status</th><th class="num">Rollbacks</th><th>Requested</th></tr>`;
}

function deploymentRow(d) {
  return `<tr data-deployment="${esc(d.deployment_id)}"><td><a href="#/deployments/${encodeURIComponent(d.deployment_id)}">${esc(d.app)}</a></td><td class="mono">${esc(d.version || "")}</td><td>${esc(d.environment || "")}</td><td>${esc(d.strategy || "–")}</td><td class="num">${pct(d.p_failure)}</td><td>${statusBadge(d.status)}</td><td class="num">${esc(d.rollback_count ?? 0)}</td><td class="mono small">${esc(fmtTime(d.requested_at))}</td></tr>`;
}

export function historyView({ items, next, filters, error }) {
  const f = filters;
  const outcomes = ["", "succeeded", "failed", "rolled_back", "aborted"].map((o) => `<option value="${o}" ${f.outcome === o ? "selected" : ""}>${o || "any outcome"}</option>`).join("");
  return `
    <h1>History</h1>
    <form class="filters" id="history-filters">
      <input name="app" placeholder="app" value="${esc(f.app || "")}">
      <input name="environment" placeholder="environment" value="${esc(f.environment || "")}">
      <select name="outcome">${outcomes}</select>
      <button class="btn" type="submit">Filter</button>
    </form>
    ${error ? `<p class="error">${esc(error)}</p>` : ""}
    <table class="table" data-testid="history-table"><thead>${deploymentHead()}</thead><tbody>${items.map(deploymentRow).join("") || `<tr><td colspan="8" class="muted">No deployments match.</td></tr>`}</tbody></table>
    ${next ? `<button class="btn" data-action="history-more">Load more</button>` : ""}`;
}

export function auditView({ items, next, filters, error }) {
  const f = filters;
  const rows = items.map((a) => `<tr data-testid="audit-row"><td class="mono small">${esc(fmtTime(a.occurred_at))}</td><td>${esc(a.actor)}</td><td><span class="pill pill-muted">${esc(a.action)}</span></td><td class="mono small">${esc(a.subject)}</td><td>${esc(a.reason || "")}</td></tr>`).join("");
  return `
    <h1>Audit log</h1>
    <form class="filters" id="audit-filters">
      <input name="subject" placeholder="subject (deployment/…, policies)" value="${esc(f.subject || "")}">
      <input name="actor" placeholder="actor" value="${esc(f.actor || "")}">
      <input name="action" placeholder="action (override.hold…)" value="${esc(f.action || "")}">
      <button class="btn" type="submit">Filter</button>
    </form>
    ${error ? `<p class="error">${esc(error)}</p>` : ""}
    <table class="table" data-testid="audit-table"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Subject</th><th>Why</th></tr></thead><tbody>${rows || `<tr><td colspan="5" class="muted">No audit records.</td></tr>`}</tbody></table>
    ${next ? `<button class="btn" data-action="audit-more">Load more</button>` : ""}`;
}

