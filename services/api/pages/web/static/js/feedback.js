// Clinician feedback on a diagnosis: accept it, or override it with the corrected label and a
// reason. Sent to POST /v1/predictions/{id}/feedback; a 201 is confirmed with its place in the
// audit chain, a 422 puts the API's reasons next to the fields they concern.
//
// The API records one corrected label among the outcome's labels. For a multi-label outcome
// that is the main finding (the most probable one, which the headline names) replaced by
// another finding; a corrected set of findings cannot be recorded. A regression has one
// label, so nothing can be overridden: the page offers only to accept the value and says so.

import { describe, request } from "./api.js";
import { el, setError, uniqueId } from "./dom.js";

/** The words for each mode: what is accepted, what an override replaces. */
const WORDING = {
  "single-label": { thing: "diagnosis", accepted: "this diagnosis", corrected: "Corrected diagnosis",
    help: "Record whether you agree with the diagnosis." },
  "multi-label": { thing: "findings", accepted: "these findings", corrected: "Corrected main finding",
    help: "Record whether you agree with the findings. An override names the finding you "
      + "consider the main one instead of the most probable; a corrected set of findings "
      + "cannot be recorded." },
  regression: { thing: "value", accepted: "this value", corrected: null,
    help: "Record whether you accept the value. A corrected value cannot be recorded here: "
      + "the archive keeps only an acceptance. If you disagree, do not accept it." },
};

function confirmation(entry, wording) {
  const what = entry.decision === "accept"
    ? `you accepted ${wording.accepted}`
    : `you overrode it with “${entry.corrected_label}”`;
  const when = new Date(entry.created_at).toLocaleString();
  return `Recorded: ${what} (${when}, audit record #${entry.audit_seq}).`;
}

export function feedbackSection(prediction, labels) {
  const wording = WORDING[prediction.diagnosis.mode] || WORDING["single-label"];
  const status = el("p", { role: "status", className: "notice", hidden: true, "data-role": "feedback-status" });
  const error = el("p", { role: "alert", className: "error", hidden: true });
  const ids = { label: uniqueId("corrected"), reason: uniqueId("reason") };
  const others = labels.filter((label) => label !== prediction.diagnosis.label);
  const fieldError = (id) => el("p", { id: `${id}-error`, className: "error", hidden: true });
  const reason = el("textarea", { id: ids.reason, required: true, "aria-describedby": `${ids.reason}-error` });
  const corrected = el("select", { id: ids.label, "aria-describedby": `${ids.label}-error` },
    others.map((label) => el("option", { value: label, text: label })));
  const fields = {
    corrected_label: { control: corrected, error: fieldError(ids.label) },
    reason: { control: reason, error: fieldError(ids.reason) },
  };

  const clearErrors = () => {
    setError(error, "");
    for (const { control, error: message } of Object.values(fields)) {
      control.removeAttribute("aria-invalid");
      setError(message, "");
    }
  };
  /** Each API reason beside its field; what fits no field goes in the general message. */
  const showErrors = (errors) => {
    const unplaced = [];
    for (const { field, reason: why } of errors) {
      const name = String(field || "").split(".").pop();
      const target = fields[name];
      if (!target || target.control.closest("form").hidden) unplaced.push(why);
      else {
        target.control.setAttribute("aria-invalid", "true");
        setError(target.error, why);
      }
    }
    const first = Object.values(fields).find((f) => f.control.getAttribute("aria-invalid"));
    if (first) first.control.focus();
    return unplaced;
  };

  const overrideForm = el("form", { hidden: true, novalidate: true, onsubmit: (event) => {
    event.preventDefault();
    clearErrors();
    if (!reason.value.trim()) {
      showErrors([{ field: "reason", reason: "Give a reason for the override." }]);
      return;
    }
    send({ decision: "override", corrected_label: corrected.value, reason: reason.value.trim() });
  } },
    el("label", { htmlFor: ids.label, text: wording.corrected }), corrected,
    fields.corrected_label.error,
    el("label", { htmlFor: ids.reason, text: "Reason" }), reason, fields.reason.error,
    el("button", { type: "submit", className: "primary", text: "Record override" }),
  );
  const buttons = [
    el("button", { type: "button", "data-action": "accept", text: `Accept ${wording.thing}`,
      onclick: () => { clearErrors(); send({ decision: "accept" }); } }),
    el("button", { type: "button", "data-action": "override", "aria-expanded": "false",
      text: "Override…", onclick: (event) => {
        overrideForm.hidden = !overrideForm.hidden;
        event.currentTarget.setAttribute("aria-expanded", String(!overrideForm.hidden));
        if (!overrideForm.hidden) corrected.focus();
      } }),
  ];
  if (!wording.corrected || others.length === 0) buttons.pop(); // nothing to override with
  const controls = [...buttons, overrideForm.querySelector("button[type=submit]")];

  async function send(body) {
    status.hidden = true;
    controls.forEach((b) => { b.disabled = true; });
    try {
      const response = await request(`/v1/predictions/${prediction.id}/feedback`, { method: "POST", json: body });
      status.textContent = confirmation(await response.json(), wording);
      status.hidden = false;
      overrideForm.hidden = true;
      if (buttons[1]) buttons[1].setAttribute("aria-expanded", "false");
    } catch (failure) {
      const unplaced = showErrors(failure.errors || []);
      const placed = (failure.errors || []).length - unplaced.length;
      setError(error, unplaced.join(" ") || (placed ? "" : describe(failure)));
    } finally {
      controls.forEach((b) => { b.disabled = false; });
    }
  }

  return [
    el("h3", { id: "feedback-title", text: "Your assessment" }),
    el("p", { className: "help", "data-role": "feedback-help", text: wording.help }),
    el("div", { className: "feedback-actions" }, buttons),
    buttons[1] ? overrideForm : null, status, error,
  ].filter(Boolean);
}
