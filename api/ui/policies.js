// Policies: the effective KPI rules per app, and the document (editable by admins).

import { esc, fmtNum } from "./charts.js";

function kpiTable(policy) {
  const kpis = (policy && policy.kpis) || [];
  if (!kpis.length) return `<p class="muted">No KPIs.</p>`;
  const rows = kpis.map((k) => {
    const limits = ["max", "min", "max_ratio", "min_ratio", "max_delta"]
      .filter((f) => k[f] !== null && k[f] !== undefined).map((f) => `${f} ${fmtNum(k[f])}`).join(", ");
    const forS = k.for ?? k.for_;
    const sustain = k.x_of_y ? `${k.x_of_y[0] ?? k.x_of_y.x} of ${k.x_of_y[1] ?? k.x_of_y.y} windows` : forS ? `for ${fmtNum(forS)}s` : "–";
    return `<tr><td class="mono">${esc(k.name)}</td><td>${esc(k.kind || "")}</td><td>${esc(limits || "–")}</td><td>${k.window ? `${esc(fmtNum(k.window))}s` : "–"}</td><td>${esc(sustain)}</td><td>${k.enabled === false ? "off" : "on"}</td></tr>`;
  }).join("");
  return `<table class="table compact"><thead><tr><th>KPI</th><th>Kind</th><th>Thresholds</th><th>Window</th><th>Sustained</th><th>Active</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function settingsLine(policy) {
  if (!policy) return "";
  const skip = new Set(["kpis", "anomaly"]);
  const parts = Object.entries(policy).filter(([k, v]) => !skip.has(k) && (typeof v !== "object" || v === null))
    .map(([k, v]) => `<span class="kv"><span class="muted">${esc(k)}</span> ${esc(fmtNum(v))}</span>`);
  return `<div class="kvs small">${parts.join("")}</div>`;
}

export function policiesView({ data, error, saveError, saved }) {
  if (error) return `<h1>Policies</h1><p class="error">${esc(error)}</p>`;
  if (!data) return `<h1>Policies</h1><p class="muted">Loading…</p>`;
  const eff = data.effective || {};
  const apps = Object.entries(eff.apps || {});
  const effError = eff.error ? `<p class="error">The stored document is invalid: ${esc(eff.error)}</p>` : "";
  return `
    <h1>Policies <span class="pill pill-muted mono" data-testid="policy-version">${esc(data.version)}</span></h1>
    ${effError}
    <section class="card"><h2>Defaults</h2>${settingsLine(eff.default)}${kpiTable(eff.default)}</section>
    ${apps.map(([app, p]) => `<section class="card"><h2>${esc(app)}</h2>${settingsLine(p)}${kpiTable(p)}</section>`).join("")}
    <section class="card">
      <h2>Document</h2>
      ${data.editable ? `<p class="muted small">Admins can replace the document; it is validated before it is stored, and the change is audited.</p>` : `<p class="muted small">No policy store is configured: showing built-in defaults (read-only).</p>`}
      <form id="policy-form">
        <textarea id="policy-text" class="code" rows="16" spellcheck="false" ${data.editable ? "" : "readonly"}>${esc(data.text)}</textarea>
        ${data.editable ? `<div class="row"><input id="policy-reason" placeholder="reason for the change (audited)" maxlength="2000"><button class="btn btn-primary" type="submit">Validate and save</button></div>` : ""}
        ${saveError ? `<p class="error" data-testid="policy-error">${esc(saveError)}</p>` : ""}
        ${saved ? `<p class="ok">Saved as version ${esc(saved)}.</p>` : ""}
      </form>
    </section>`;
}
