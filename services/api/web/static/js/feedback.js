// Clinician feedback on a diagnosis: accept it, or override it with the corrected label and a
// reason. Sent to POST /v1/predictions/{id}/feedback; until the server records feedback
// (the audit archive), its 404/405 is explained politely and nothing is claimed as recorded.

import { ApiError, describe, request } from "./api.js";
import { el, setError, uniqueId } from "./dom.js";

const NOT_YET = "This server does not record feedback yet: it arrives with the audit archive. "
  + "Nothing was recorded.";

function notAvailable(error) {
  return error instanceof ApiError && (error.status === 405 || error.status === 501
    || (error.status === 404 && !/prediction/i.test(error.detail)));
}

export function feedbackSection(prediction, labels) {
  const status = el("p", { role: "status", className: "notice", hidden: true, "data-role": "feedback-status" });
  const error = el("p", { role: "alert", className: "error", hidden: true });
  const ids = { label: uniqueId("corrected"), reason: uniqueId("reason") };
  const others = labels.filter((label) => label !== prediction.diagnosis.label);
  const reason = el("textarea", { id: ids.reason, required: true });
  const corrected = el("select", { id: ids.label },
    others.map((label) => el("option", { value: label, text: label })));
  const overrideForm = el("form", { hidden: true, onsubmit: (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      setError(error, "Give a reason for the override.");
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    reason.removeAttribute("aria-invalid");
    send({ decision: "override", corrected_label: corrected.value, reason: reason.value.trim() });
  } },
    el("label", { htmlFor: ids.label, text: "Corrected diagnosis" }), corrected,
    el("label", { htmlFor: ids.reason, text: "Reason" }), reason,
    el("button", { type: "submit", className: "primary", text: "Record override" }),
  );
  const buttons = [
    el("button", { type: "button", "data-action": "accept", text: "Accept diagnosis",
      onclick: () => send({ decision: "accept" }) }),
    el("button", { type: "button", "data-action": "override", "aria-expanded": "false",
      text: "Override…", onclick: (event) => {
        overrideForm.hidden = !overrideForm.hidden;
        event.currentTarget.setAttribute("aria-expanded", String(!overrideForm.hidden));
        if (!overrideForm.hidden) corrected.focus();
      } }),
  ];

  async function send(body) {
    setError(error, "");
    status.hidden = true;
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await request(`/v1/predictions/${prediction.id}/feedback`, { method: "POST", json: body });
      status.textContent = body.decision === "accept"
        ? "Recorded: you accepted this diagnosis." : `Recorded: you overrode it with “${body.corrected_label}”.`;
      status.hidden = false;
      overrideForm.hidden = true;
    } catch (failure) {
      if (notAvailable(failure)) {
        status.textContent = NOT_YET;
        status.hidden = false;
      } else {
        setError(error, describe(failure));
      }
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  return [
    el("h3", { id: "feedback-title", text: "Your assessment" }),
    el("p", { className: "help", text: "Record whether you agree with the diagnosis." }),
    el("div", { className: "feedback-actions" }, buttons),
    overrideForm, status, error,
  ];
}
