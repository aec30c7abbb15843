// Small shared pieces of views: status/verdict/risk badges, progress bar, KPI sparkline grid.

import { esc, fmtNum, pct, sparkline } from "./charts.js";

export function statusBadge(status) {
  const cls = { succeeded: "ok", started: "info", requested: "muted", failed: "bad",
    rolled_back: "bad", aborted: "warn" }[status] || "muted";
  return `<span class="pill pill-${cls}" data-testid="status">${esc(status || "unknown")}</span>`;
}

export function verdictBadge(state) {
  if (!state) return "";
  const cls = { healthy: "ok", degraded: "warn", rollback: "bad", inconclusive: "muted", error: "bad" }[state] || "muted";
  return `<span class="pill pill-${cls}" data-testid="verdict">${esc(state)}</span>`;
}

export function riskBadge(p) {
  if (typeof p !== "number") return `<span class="pill pill-muted">risk –</span>`;
  const cls = p >= 0.5 ? "bad" : p >= 0.2 ? "warn" : "ok";
  return `<span class="pill pill-${cls}" title="predicted probability of failure">risk ${pct(p)}</span>`;
}

export function heldBadge(held) {
  return held ? `<span class="pill pill-hold" data-testid="held">on hold</span>` : "";
}

export function progressBar(progress, status) {
  const reported = progress && typeof progress.weight === "number" ? progress.weight : null;
  let weight = reported;
  let label;
  if (status === "succeeded") { weight = 100; label = "completed"; }
  else if (["failed", "rolled_back", "aborted"].includes(status)) {
    label = `${status.replace("_", " ")}${reported !== null ? ` at ${fmtNum(reported)}% traffic` : ""}`;
  } else if (reported !== null) {
    label = `${fmtNum(reported)}% traffic${progress.step ? ` · step ${progress.step}` : ""}${progress.phase && progress.phase !== "progressing" ? ` · ${progress.phase}` : ""}`;
  } else label = status === "started" ? "rolling out (no step reported yet)" : "waiting to start";
  const w = weight === null ? 0 : Math.max(0, Math.min(100, weight));
  const cls = ["failed", "rolled_back", "aborted"].includes(status) ? "progress-fill bad" : "progress-fill";
  return `<div class="progress${status === "started" && reported === null ? " indeterminate" : ""}" role="progressbar" aria-valuenow="${w}" aria-valuemin="0" aria-valuemax="100"><div class="${cls}" style="width:${w}%"></div></div><div class="progress-label" data-testid="progress">${esc(label)}</div>`;
}

export function kpiSparks(kpis, width = 150) {
  const keys = Object.keys(kpis || {}).sort();
  if (!keys.length) return `<p class="muted small">No KPI windows yet.</p>`;
  return `<div class="sparks">${keys.map((k) => {
    const pts = kpis[k];
    const last = pts[pts.length - 1] || {};
    return `<div class="spark-cell" data-kpi="${esc(k)}"><div class="spark-head"><span class="mono small">${esc(k)}</span><span class="small ${last.status === "breach" ? "risk" : "muted"}" data-testid="kpi-last">${esc(fmtNum(last.value))}</span></div>${sparkline(pts.slice(-40), { width, label: k })}</div>`;
  }).join("")}</div>`;
}

export function describe(r) {
  switch (r.type) {
    case "deployment.step": return `step ${r.step ?? ""} → ${fmtNum(r.weight)}%`;
    case "kpi.window": return `${r.track}/${r.kpi} = ${fmtNum(r.value)} (${r.status})`;
    case "verdict": return `${r.state}${r.reason ? ` — ${r.reason}` : ""}`;
    case "prediction": return `p(failure) ${pct(r.p_failure)}`;
    case "strategy.decision": return r.strategy;
    case "override": return `${r.action} by ${r.actor}`;
    case "audit": return `${r.action} by ${r.actor}`;
    case "deployment.finished": return r.outcome;
    case "action.result": return `${r.status} (${r.backend})`;
    default: return r.deployment_id || "";
  }
}

