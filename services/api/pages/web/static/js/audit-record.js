// One archived record, everything the archive holds about it: the prediction with its hashes,
// the input, each explanation with its result and rendering (and a Replay button), the
// clinician feedback, the chain entries that seal it, and the PDF/JSON reports. Files are
// fetched with the token and shown or saved through object URLs (no link can send headers).

import { blobOf, describe, download, getJson, request } from "./api.js";
import { el, setError, sizeText } from "./dom.js";
import { methodName } from "./methods.js";
import { replayControl } from "./audit-replay.js";
import { outcomeView, sizeMeters } from "./outcome.js";

const HASHES = /(sha256|hash|hmac)$/;
const SHOWN_IMAGES = new Set(["image/png", "image/jpeg"]);
const INLINE_JSON = 120; // longer objects fold into a disclosure widget

function json(v) {
  const flat = JSON.stringify(v);
  if (flat.length <= INLINE_JSON) return el("code", { className: "sha", text: flat });
  const count = Array.isArray(v) ? `${v.length} items` : `${Object.keys(v).length} fields`;
  return el("details", {}, el("summary", { text: count }),
    el("pre", { className: "json", text: JSON.stringify(v, null, 2) }));
}

function value(key, v) {
  if (v === null || v === undefined || v === "") return el("span", { className: "help", text: "—" });
  if (typeof v === "object") return json(v);
  if (HASHES.test(key)) return el("code", { className: "sha", text: String(v) });
  if (key.endsWith("_at")) return el("time", { dateTime: v, text: new Date(v).toLocaleString() });
  return String(v);
}

/** Every field of `object` as a term/definition list (`skip` leaves some out). */
function facts(object, skip = []) {
  return el("dl", { className: "facts record-facts" }, Object.entries(object)
    .filter(([key]) => !skip.includes(key))
    .flatMap(([key, v]) => [el("dt", { text: key }), el("dd", { "data-key": key }, value(key, v))]));
}

function table(rows, columns, caption) {
  return el("table", {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", text: c })))),
    el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => el("td", {}, value(c, row[c])))))));
}

/** A button that fetches a file with the token and saves it (named as the server says, else
 * `filename`); the status says what was saved. */
function saveButton({ text, path, filename, accept, action }) {
  const status = el("span", { className: "help", role: "status" });
  const button = el("button", { type: "button", "data-action": action, text, onclick: async () => {
    status.textContent = "Downloading…";
    try {
      const file = await download(path, filename, accept);
      status.replaceChildren(`Saved ${file.filename} (${sizeText(file.size)}). `,
        el("a", { href: file.url, download: file.filename, text: "Save again" }));
    } catch (error) {
      status.textContent = `Not downloaded. ${describe(error)}`;
    }
  } });
  return el("span", { className: "save" }, button, status);
}

async function inputView(path, kind) {
  const holder = el("div", { "data-role": "input" }, el("p", { className: "help", text: "Loading the input…" }));
  try {
    const response = await request(path, { accept: "*/*" });
    const type = (response.headers.get("content-type") || "").split(";")[0];
    if (SHOWN_IMAGES.has(type)) {
      const url = URL.createObjectURL(await response.blob());
      holder.replaceChildren(el("img", { className: "archived", src: url, alt: `The ${kind} input as uploaded` }));
    } else if (type.endsWith("json")) {
      holder.replaceChildren(json(await response.json()));
    } else {
      const blob = await response.blob();
      holder.replaceChildren(el("p", {}, `A ${type || "binary"} file of ${sizeText(blob.size)} (a browser cannot show it). `,
        el("a", { href: URL.createObjectURL(blob), download: type === "application/dicom" ? "input.dcm" : "input",
          text: "Save the input" })));
    }
  } catch (error) {
    holder.replaceChildren(el("p", { className: "error", text: `The input could not be loaded. ${describe(error)}` }));
  }
  return holder;
}

function explanationView(explanation, index) {
  const titleId = `explanation-${index}-title`;
  const { result, links } = explanation;
  const rendering = el("div", { "data-role": "rendering" });
  if (links.rendering) {
    blobOf(links.rendering, "image/png").then((file) => rendering.replaceChildren(el("figure", {},
      el("img", { className: "archived", src: file.url, alt: `${methodName(explanation.method)} rendering, as archived` }),
      el("figcaption", { text: "Rendering as archived" }))))
      .catch((error) => rendering.replaceChildren(el("p", { className: "error",
        text: `The rendering could not be loaded. ${describe(error)}` })));
  }
  return el("article", { className: "explanation", "aria-labelledby": titleId,
    "data-explanation-id": explanation.id, "data-method": explanation.method },
    el("h4", { id: titleId }, `${methodName(explanation.method)} `,
      explanation.target_label
        ? el("span", { "data-role": "target-label", text: `of “${explanation.target_label}” ` }) : null,
      el("span", { className: `status-pill ${explanation.status}`, text: explanation.status })),
    facts(explanation, ["result", "links"]),
    result ? [el("h5", { text: "Result" }), facts(result)] : el("p", { className: "help", text: "No result archived." }),
    rendering,
    links.attributions ? saveButton({ text: "Download attributions (.npy)", path: links.attributions,
      filename: `${explanation.id}.npy`, accept: "application/x-npy", action: "attributions" }) : null,
    explanation.status === "succeeded" ? replayControl(explanation)
      : el("p", { className: "help", text: "Only a succeeded explanation can be replayed." }),
  );
}

/** The outcome as the clinician saw it (findings with thresholds, or the value and range). */
function outcomeSection(outcome) {
  const view = el("div", { "data-mode": outcome.mode }, outcomeView(outcome),
    el("p", { className: "help", text: `Output mode: ${outcome.mode}.` }));
  sizeMeters(view);
  return view;
}

export class RecordView {
  /** The record shows in `section`; `covers` (the search and its results) hide meanwhile. */
  constructor(section, covers = []) {
    this.section = section;
    this.covers = covers;
    this.opener = null;
  }

  async open(id, opener) {
    this.opener = opener;
    const title = el("h2", { id: "record-title", tabIndex: -1 }, "Record ", el("code", { text: id }));
    const error = el("p", { className: "error", role: "alert", hidden: true });
    const loading = el("p", { role: "status", className: "help", text: "Loading the record…" });
    this.section.replaceChildren(title, loading, error);
    this.section.hidden = false;
    this.covers.forEach((node) => { node.hidden = true; });
    this.section.dataset.recordId = id;
    title.focus();
    try {
      const record = await getJson(`/v1/audit/records/${id}`);
      this.section.replaceChildren(title, ...(await this.body(record)));
    } catch (failure) {
      loading.textContent = "";
      setError(error, `The record could not be opened. ${describe(failure)}`);
      this.section.append(this.closeButton());
    }
    title.focus();
  }

  closeButton() {
    return el("button", { type: "button", "data-action": "close", text: "← Back to the results",
      onclick: () => this.close() });
  }

  close() {
    this.section.hidden = true;
    for (const node of this.section.querySelectorAll("img[src^='blob:'], a[href^='blob:']")) {
      URL.revokeObjectURL(node.src || node.href);
    }
    this.section.replaceChildren();
    this.covers.forEach((node) => { node.hidden = false; });
    if (this.opener && this.opener.isConnected) this.opener.focus();
  }

  async body(record) {
    const { prediction, explanations, feedback, chain, links } = record;
    const id = prediction.id;
    return [
      el("div", { className: "record-actions" }, this.closeButton(),
        saveButton({ text: "Download PDF report", path: links.report_pdf, filename: `audit-record-${id}.pdf`,
          accept: "application/pdf", action: "report-pdf" }),
        saveButton({ text: "Download JSON report", path: links.report_json, filename: `audit-record-${id}.json`,
          accept: "application/json", action: "report-json" })),
      el("section", { "aria-labelledby": "outcome-title", "data-role": "outcome" },
        el("h3", { id: "outcome-title", text: "Outcome" }), outcomeSection(prediction.outcome)),
      el("section", { "aria-labelledby": "prediction-title" },
        el("h3", { id: "prediction-title", text: "Prediction" }), facts(prediction, ["outcome"])),
      el("section", { "aria-labelledby": "input-title" },
        el("h3", { id: "input-title", text: "Input" }), await inputView(links.input, prediction.input_kind)),
      el("section", { "aria-labelledby": "explanations-title", "data-role": "explanations" },
        el("h3", { id: "explanations-title", text: "Explanations" }),
        explanations.length ? explanations.map(explanationView)
          : el("p", { className: "help", text: "No explanation was requested." })),
      el("section", { "aria-labelledby": "feedback-title", "data-role": "feedback" },
        el("h3", { id: "feedback-title", text: "Clinician feedback" }),
        feedback.length ? table(feedback, ["created_at", "decision", "corrected_label", "reason", "audit_seq"],
          "Decisions recorded by clinicians, oldest first")
          : el("p", { className: "help", text: "No feedback recorded." })),
      el("section", { "aria-labelledby": "chain-entries-title", "data-role": "chain" },
        el("h3", { id: "chain-entries-title", text: "Audit chain entries" }),
        table(chain, ["seq", "kind", "created_at", "hash", "prev_hash", "payload_sha256"],
          "The chain records about this prediction: its explanations, feedback and every logged read")),
    ];
  }
}
