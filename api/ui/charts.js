// Small SVG charts built as strings: KPI sparklines and signed feature-contribution bars.

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

// points: [{value, status, threshold}] in time order.
export function sparkline(points, { width = 160, height = 36, label = "" } = {}) {
  const vals = points.map((p) => p.value).filter((v) => typeof v === "number");
  const thresholds = points.map((p) => p.threshold).filter((v) => typeof v === "number");
  if (!vals.length) {
    return `<svg class="spark" width="${width}" height="${height}" role="img" aria-label="${esc(label)}: no data"><text x="4" y="${height / 2 + 4}" class="spark-empty">no data</text></svg>`;
  }
  const threshold = thresholds.length ? thresholds[thresholds.length - 1] : null;
  let lo = Math.min(...vals, threshold ?? Infinity);
  let hi = Math.max(...vals, threshold ?? -Infinity);
  if (hi === lo) { hi += 1e-9 + Math.abs(hi) * 0.1; lo -= 1e-9 + Math.abs(lo) * 0.1; }
  const pad = 3;
  const n = points.length;
  const x = (i) => pad + (n === 1 ? (width - 2 * pad) / 2 : (i * (width - 2 * pad)) / (n - 1));
  const y = (v) => height - pad - ((v - lo) * (height - 2 * pad)) / (hi - lo);
  const coords = [];
  const dots = [];
  points.forEach((p, i) => {
    if (typeof p.value !== "number") return;
    coords.push(`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
    if (p.status === "breach") dots.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="2.6" class="spark-breach"/>`);
  });
  const last = points[points.length - 1];
  const lineClass = last && last.status === "breach" ? "spark-line bad" : "spark-line";
  const thr = threshold === null ? "" :
    `<line x1="${pad}" x2="${width - pad}" y1="${y(threshold).toFixed(1)}" y2="${y(threshold).toFixed(1)}" class="spark-threshold"/>`;
  const title = `${label}: last ${fmtNum(vals[vals.length - 1])}${threshold !== null ? `, threshold ${fmtNum(threshold)}` : ""}`;
  return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${thr}<polyline points="${coords.join(" ")}" class="${lineClass}"/>${dots.join("")}</svg>`;
}

// contributions: [{feature, value, weight}]; positive weight pushes toward failure.
export function contributionBars(contributions, { width = 180 } = {}) {
  if (!contributions || !contributions.length) return `<p class="muted">No explanation recorded.</p>`;
  const rows = [...contributions].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 12);
  const max = Math.max(...rows.map((r) => Math.abs(r.weight)), 1e-9);
  const half = width / 2;
  const bar = (r) => {
    const w = Math.max(1, (Math.abs(r.weight) / max) * (half - 2));
    const x = r.weight >= 0 ? half : half - w;
    return `<svg width="${width}" height="14" class="contrib-bar" aria-hidden="true"><line x1="${half}" x2="${half}" y1="0" y2="14" class="axis"/><rect x="${x.toFixed(1)}" y="2" width="${w.toFixed(1)}" height="10" rx="2" class="${r.weight >= 0 ? "bar-risk" : "bar-safe"}"/></svg>`;
  };
  const body = rows.map((r) => `<tr><td class="mono">${esc(r.feature)}</td><td class="num">${esc(fmtNum(r.value))}</td><td class="num ${r.weight >= 0 ? "risk" : "safe"}">${r.weight >= 0 ? "+" : ""}${esc(fmtNum(r.weight))}</td><td>${bar(r)}</td></tr>`).join("");
  return `<table class="table compact contrib"><thead><tr><th>Feature</th><th class="num">Value</th><th class="num">Weight</th><th><span class="safe">← safer</span> · <span class="risk">riskier →</span></th></tr></thead><tbody>${body}</tbody></table>`;
}

export function fmtNum(v) {
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export function pct(p) {
  return typeof p === "number" ? `${(p * 100).toFixed(0)}%` : "–";
}
