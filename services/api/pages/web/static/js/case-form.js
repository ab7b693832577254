// The case form: choose a model (from GET /v1/models), the explanations to compute, then an
// image or the tabular measurements the model's manifest lists. The API validates; its
// 422 `errors[].field` ("file", "features.<name>", …) are shown next to the field concerned.

import { methodDescription, methodName } from "./methods.js";
import { clear, el, setError, show } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class CaseForm {
  constructor(models, { onModelChange }) {
    this.models = models;
    this.featureInputs = new Map();
    this.previewUrl = null;
    const select = $("model");
    clear(select);
    models.forEach((model, index) => {
      const text = `${model.name} / ${model.version}${model.default ? " (default)" : ""}`;
      select.append(el("option", { value: String(index), text }));
    });
    select.addEventListener("change", () => {
      onModelChange();
      this.render();
    });
    $("file").addEventListener("change", () => this.previewImage());
    $("case-file").addEventListener("change", () => this.fillFromFile());
    this.render();
  }

  get model() {
    return this.models[Number($("model").value)];
  }

  render() {
    const model = this.model;
    const manifest = model.manifest;
    $("model-help").textContent = [manifest.description, `sha256 ${model.sha256.slice(0, 12)}…`]
      .filter(Boolean).join(" · ");
    const defaults = new Set(manifest.explanations?.default_methods || []);
    clear($("method-choices")).append(...model.methods.map((method) => el("label", {},
      el("input", { type: "checkbox", name: "methods", value: method, checked: defaults.has(method) }),
      el("span", { text: methodName(method), title: methodDescription(method) }),
    )));
    this.renderTargets(manifest.output);
    const image = manifest.input.kind === "image";
    show($("image-input"), image);
    show($("tabular-input"), !image);
    if (!image) this.renderFeatures(manifest.input.features);
    this.clearErrors();
  }

  /** Labels the request may name as `targets`: the findings of a multi-label model or the
   * classes of a multi-class one (none chosen: the API's defaults). */
  renderTargets(output) {
    const mode = output.mode || "single-label";
    const offered = mode === "multi-label" || (mode === "single-label" && output.labels.length > 2);
    show($("targets"), offered);
    clear($("target-choices"));
    if (!offered) return;
    const noun = mode === "multi-label" ? "findings" : "classes";
    $("targets-legend").textContent = `${noun[0].toUpperCase()}${noun.slice(1)} to explain (optional)`;
    $("targets-help").textContent = mode === "multi-label"
      ? "None chosen: every positive finding (the most probable one when none is positive)."
      : "None chosen: the predicted class.";
    $("target-choices").append(...output.labels.map((label) => el("label", {},
      el("input", { type: "checkbox", name: "targets", value: label }),
      el("span", { text: label }))));
  }

  renderFeatures(features) {
    this.featureInputs.clear();
    const rows = features.map((feature, index) => {
      const id = `feature-${index}`;
      const input = el("input", {
        id, type: "text", inputMode: "decimal", autocomplete: "off", "data-feature": feature.name,
        "aria-describedby": `${id}-hint ${id}-error`,
      });
      this.featureInputs.set(feature.name, input);
      const range = `valid ${feature.minimum} to ${feature.maximum}${feature.unit ? ` ${feature.unit}` : ""}`;
      return el("div", { className: "feature" },
        el("label", { htmlFor: id }, feature.name,
          feature.unit ? el("span", { className: "unit", text: ` (${feature.unit})` }) : null),
        input,
        el("p", { id: `${id}-hint`, className: "help",
          text: feature.description ? `${feature.description} — ${range}` : range }),
        el("p", { id: `${id}-error`, className: "error", hidden: true }),
      );
    });
    clear($("features")).append(...rows);
  }

  previewImage() {
    const file = $("file").files[0];
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    const browserCanShow = file && /^image\/(png|jpeg)$/.test(file.type);
    if (browserCanShow) {
      this.previewUrl = URL.createObjectURL(file);
      $("preview-image").src = this.previewUrl;
    }
    show($("preview"), Boolean(browserCanShow));
    setError($("error-file"), "");
    $("file").removeAttribute("aria-invalid");
  }

  async fillFromFile() {
    const file = $("case-file").files[0];
    if (!file) return;
    let values;
    try {
      values = JSON.parse(await file.text());
    } catch (error) {
      this.showErrors([{ field: "case-file", reason: `not valid JSON: ${error.message}` }]);
      return;
    }
    for (const [name, input] of this.featureInputs) {
      if (name in values) input.value = String(values[name]);
    }
  }

  /** The request for POST /v1/predictions: a multipart form, or a JSON body. */
  body() {
    const model = this.model;
    const methods = [...document.querySelectorAll("input[name=methods]:checked")].map((c) => c.value);
    const targets = [...document.querySelectorAll("input[name=targets]:checked")].map((c) => c.value);
    const caseRef = $("case-ref").value.trim();
    if (model.manifest.input.kind === "image") {
      const form = new FormData();
      form.append("model", model.name);
      form.append("version", model.version);
      form.append("methods", methods.join(","));
      for (const target of targets) form.append("targets", target); // one field per label
      if (caseRef) form.append("case_ref", caseRef);
      const file = $("file").files[0];
      if (file) form.append("file", file, file.name);
      return { form };
    }
    const features = {};
    for (const [name, input] of this.featureInputs) {
      const text = input.value.trim();
      if (text === "") continue; // the API names it as missing
      const number = Number(text);
      features[name] = Number.isFinite(number) ? number : text; // the API explains bad text
    }
    const json = { model: model.name, version: model.version, methods, features };
    if (targets.length) json.targets = targets;
    if (caseRef) json.case_ref = caseRef;
    return { json };
  }

  clearErrors() {
    for (const node of document.querySelectorAll("#case-form .error")) setError(node, "");
    for (const node of document.querySelectorAll("#case-form [aria-invalid]")) {
      node.removeAttribute("aria-invalid");
    }
  }

  /** Put each `errors[]` entry next to its field; returns the entries no field took. */
  showErrors(errors) {
    const unplaced = [];
    let first = null;
    for (const { field, reason } of errors) {
      const target = this.fieldFor(field);
      if (!target) {
        unplaced.push(`${field}: ${reason}`);
        continue;
      }
      const [input, message] = target;
      setError(message, reason);
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (first) first.focus();
    return unplaced;
  }

  fieldFor(field) {
    if (field.startsWith("features.")) {
      const input = this.featureInputs.get(field.slice("features.".length));
      return input ? [input, $(`${input.id}-error`)] : null;
    }
    const simple = { file: ["file", "error-file"], case_ref: ["case-ref", "error-case_ref"],
      methods: ["method-choices", "error-methods"], targets: ["target-choices", "error-targets"],
      "case-file": ["case-file", "error-case-file"] };
    const ids = simple[field.split(".")[0]];
    return ids ? [$(ids[0]), $(ids[1])] : null;
  }
}
