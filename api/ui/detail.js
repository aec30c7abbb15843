// Deployment detail: prediction with its explanation, strategy decision, KPI windows,
// verdicts with evidence, commands/actions, overrides and the full timeline.

import { contributionBars, esc, fmtNum, fmtTime, pct } from "./charts.js";
import { describe, heldBadge, kpiSparks, progressBar, riskBadge, statusBadge, verdictBadge } from "./parts.js";

function card(title, body, testid = "") {
  return `<section class="card"${testid ? ` data-testid="${testid}"` : ""}><h2>${esc(title)}</h2>${body}</section>`;
}

function predictionCard(p) {
  if (!p) return card("Prediction", `<p class="muted">No prediction recorded.</p>`, "prediction");
  return card("Prediction", `
    <div class="stat-row">
      <div class="stat"><div class="stat-value ${p.p_failure >= (p.threshold ?? 0.5) ? "risk" : ""}" data-testid="p-failure">${pct(p.p_failure)}</div><div class="stat-label">probability of failure</div></div>
      <div class="stat"><div class="stat-value">${pct(p.threshold)}</div><div class="stat-label">alarm threshold</div></div>
      <div class="stat"><div class="stat-value">${p.alarm ? "yes" : "no"}</div><div class="stat-label">alarm</div></div>
      <div class="stat"><div class="stat-value mono">${esc(p.model_version)}</div><div class="stat-label">model version</div></div>
    </div>
    <h3>Why: feature contributions to the failure log-odds</h3>
    ${contributionBars(p.explanation)}`, "prediction");
}

function strategyCard(d) {
  if (!d) return card("Strategy", `<p class="muted">No strategy decision recorded.</p>`, "strategy");
  const excluded = Object.entries(d.excluded || {});
  const steps = (d.parameters && d.parameters.steps) || [];
  return card("Strategy", `
    <div class="stat-row"><div class="stat"><div class="stat-value" data-testid="strategy">${esc(d.strategy)}</div><div class="stat-label">chosen strategy · policy ${esc(d.policy_version)}</div></div></div>
    <ul class="reasons">${(d.explanation || []).map((e) => `<li>${esc(e)}</li>`).join("")}</ul>
    ${excluded.length ? `<h3>Excluded</h3><table class="table compact"><tbody>${excluded.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</tbody></table>` : ""}
    ${steps.length ? `<h3>Steps</h3><p class="mono small">${steps.map((s) => `${fmtNum(s.weight)}% for ${s.duration_s}s`).join(" → ")}</p>` : ""}`, "strategy");
}

function evidenceList(evidence) {
  if (!evidence || !evidence.length) return `<span class="muted">–</span>`;
  return `<ul class="evidence">${evidence.map((e) => `<li><span class="mono">${esc(e.track)}/${esc(e.kpi)}</span> = <strong>${esc(fmtNum(e.value))}</strong>${e.threshold !== null && e.threshold !== undefined ? ` vs threshold ${esc(fmtNum(e.threshold))}` : ""}${e.baseline !== null && e.baseline !== undefined ? `, baseline ${esc(fmtNum(e.baseline))}` : ""}${e.rule ? ` <span class="muted">(${esc(e.rule)})</span>` : ""}${e.detail ? ` <span class="muted">${esc(e.detail)}</span>` : ""}</li>`).join("")}</ul>`;
}

function verdictsCard(verdicts) {
  const rows = [...verdicts].reverse().slice(0, 50).map((v) => `<tr><td class="mono small">${esc(fmtTime(v.occurred_at))}</td><td>${verdictBadge(v.state)}${v.held ? " " + heldBadge(true) : ""}</td><td>${esc(v.reason || "")}</td><td>${evidenceList(v.evidence)}</td></tr>`).join("");
  return card("Verdicts", rows ? `<table class="table"><thead><tr><th>When</th><th>State</th><th>Reason</th><th>Evidence</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="muted">No verdicts yet.</p>`, "verdicts");
}

function actionsCard(commands, actions, overrides) {
  const rows = [
    ...commands.map((c) => ({ t: c.occurred_at, what: `rollback command${c.forced ? " (forced)" : ""}`, who: c.requested_by, detail: `${c.from_version || ""} → ${c.to_version || "previous"}: ${c.reason || ""}` })),
    ...actions.map((a) => ({ t: a.occurred_at, what: `executor: ${a.status}`, who: a.backend, detail: a.detail })),
    ...overrides.map((o) => ({ t: o.occurred_at, what: `override: ${o.action}`, who: o.actor, detail: o.reason })),
  ].sort((a, b) => String(b.t).localeCompare(String(a.t)));
  const body = rows.length ? `<table class="table" data-testid="actions-table"><thead><tr><th>When</th><th>What</th><th>Who</th><th>Detail</th></tr></thead><tbody>${rows.map((r) => `<tr><td class="mono small">${esc(fmtTime(r.t))}</td><td>${esc(r.what)}</td><td>${esc(r.who || "")}</td><td>${esc(r.detail || "")}</td></tr>`).join("")}</tbody></table>` : `<p class="muted">No commands, actions or overrides.</p>`;
  return card("Rollbacks, actions and overrides", body, "actions");
}

const TIMELINE_SHOWN = 300;

function timelineCard(timeline) {
  const shown = timeline.slice(-TIMELINE_SHOWN);
  const note = timeline.length > shown.length ? `<p class="muted small">Showing the latest ${shown.length} of ${timeline.length} records; the API returns all of them.</p>` : "";
  const rows = shown.map((r) => `<li><span class="mono small muted">${esc(fmtTime(r.occurred_at))}</span> <span class="pill pill-muted small">${esc(r.type)}</span> ${esc(describe(r))}<details><summary class="small muted">record</summary><pre>${esc(JSON.stringify(r, null, 2))}</pre></details></li>`).join("");
  return card(`Timeline (${timeline.length})`, `${note}<ul class="timeline">${rows}</ul>`, "timeline");
}

export function detailView(d, { error } = {}) {
  if (error) return `<p><a href="#/">← Live</a></p><div class="card"><p class="error">${esc(error)}</p></div>`;
  if (!d) return `<p class="muted">Loading…</p>`;
  const last = d.verdicts.length ? d.verdicts[d.verdicts.length - 1].state : null;
  const finished = !["requested", "started"].includes(d.status);
  return `
    <p><a href="#/">← Live</a></p>
    <div class="detail-head" data-testid="detail" data-deployment="${esc(d.deployment_id)}">
      <div>
        <h1>${esc(d.app)} <span class="mono">${esc(d.version || "")}</span></h1>
        <div class="meta muted">${esc(d.environment || "")} · <span class="mono">${esc(d.deployment_id)}</span> · requested ${esc(fmtTime(d.requested_at))}${d.previous_version ? ` · from ${esc(d.previous_version)}` : ""}</div>
        <div class="badges">${statusBadge(d.status)}${verdictBadge(last)}${heldBadge(d.held)}${riskBadge(d.p_failure)}${d.rollback_count ? `<span class="pill pill-bad">${esc(d.rollback_count)} rollback(s)</span>` : ""}</div>
      </div>
      <div class="actions">
        <button class="btn" data-action="override" data-kind="hold" data-testid="btn-hold" ${d.held || finished ? "disabled" : ""}>Hold</button>
        <button class="btn" data-action="override" data-kind="release" data-testid="btn-release" ${d.held ? "" : "disabled"}>Release</button>
        <button class="btn btn-danger" data-action="override" data-kind="force_rollback" data-testid="btn-rollback">Force rollback</button>
      </div>
    </div>
    ${progressBar(d.progress, d.status)}
    <div class="grid-2">${predictionCard(d.prediction)}${strategyCard(d.decision)}</div>
    ${card("KPIs", kpiSparks(d.kpis, 260), "kpis")}
    ${verdictsCard(d.verdicts)}
    ${actionsCard(d.commands, d.actions, d.overrides)}
    ${timelineCard(d.timeline)}`;
}
