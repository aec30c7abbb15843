// The override dialog: hold / release / force rollback, always with a reason (audited).

import { api } from "./api.js";

const $ = (sel) => document.querySelector(sel);

const LABELS = {
  hold: ["Hold deployment", "Automated rollback stops for this deployment until released."],
  release: ["Release hold", "Automation takes over again."],
  force_rollback: ["Force rollback", "The previous version is restored now, even if KPIs look fine."],
};

// Wires the <dialog> once; returns open(kind). onDone(deploymentId, label) after success.
export function setupOverrideDialog({ deploymentId, onDone }) {
  const dialog = $("#override-dialog");
  let kind = null;

  $("#override-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = $("#override-reason").value.trim();
    const err = $("#override-error");
    if (!reason) { err.textContent = "A reason is required."; err.hidden = false; return; }
    const id = deploymentId();
    try {
      await api(`/v1/deployments/${encodeURIComponent(id)}/overrides`, { method: "POST", body: { action: kind, reason } });
      dialog.close();
      onDone(id, LABELS[kind][0]);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  $("#override-cancel").addEventListener("click", () => dialog.close());

  return function open(which) {
    kind = which;
    $("#override-title").textContent = LABELS[which][0];
    $("#override-help").textContent = LABELS[which][1];
    $("#override-reason").value = "";
    $("#override-error").hidden = true;
    $("#override-submit").className = `btn ${which === "force_rollback" ? "btn-danger" : "btn-primary"}`;
    dialog.showModal();
    $("#override-reason").focus();
  };
}
