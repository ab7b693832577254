// The clinical page: sign in, fill the case, see the diagnosis at once and each explanation
// as it arrives. Every API call carries the sign-in token (see api.js).

import { describe, getJson, request } from "./api.js";
import { CaseForm } from "./case-form.js";
import { el, setError } from "./dom.js";
import { Explanations } from "./explanations.js";
import { feedbackSection } from "./feedback.js";
import { loadMethods } from "./methods.js";
import { outcomeView, sizeMeters } from "./outcome.js";
import { signIn } from "./signin.js";

const $ = (id) => document.getElementById(id);
let form = null;
let explanations = null;

function showDiagnosis(prediction) {
  const { diagnosis, model } = prediction;
  const view = el("div", {}, outcomeView(diagnosis),
    el("p", { className: "meta" }, `Model ${model.name} / ${model.version} · sha256 `,
      el("code", { text: model.sha256.slice(0, 16) }), "… · prediction ",
      el("code", { text: prediction.id })));
  sizeMeters(view);
  $("diagnosis").dataset.predictionId = prediction.id;
  $("diagnosis").dataset.mode = diagnosis.mode;
  $("diagnosis").replaceChildren(view);
}

function closeResult() {
  if (explanations) explanations.close();
  explanations = null;
  $("result").hidden = true;
}

async function submit(event) {
  event.preventDefault();
  form.clearErrors();
  const model = form.model;
  $("submit").disabled = true;
  try {
    const response = await request("/v1/predictions", { method: "POST", ...form.body() });
    const prediction = await response.json();
    closeResult();
    $("result").hidden = false;
    showDiagnosis(prediction);
    explanations = new Explanations({ prediction, model });
    $("feedback").replaceChildren(...feedbackSection(prediction, model.manifest.output.labels));
  } catch (error) {
    const unplaced = form.showErrors(error.errors || []);
    const placed = (error.errors || []).length - unplaced.length;
    const summary = placed > 0 ? `Please correct the ${placed === 1 ? "field" : `${placed} fields`} marked below.` : "";
    setError($("form-error"), [summary, ...unplaced].filter(Boolean).join(" ") || describe(error));
  } finally {
    $("submit").disabled = false;
  }
}

signIn(async () => {
  await loadMethods();
  const models = await getJson("/v1/models");
  if (models.length === 0) {
    setError($("app-error"), "No model is served: build or install a bundle first.");
    return;
  }
  form = new CaseForm(models, { onModelChange: closeResult });
  $("case-form").onsubmit = submit;
});
