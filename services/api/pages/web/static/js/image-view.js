// The heatmap over the image the model saw, with an opacity slider and rendering options.
//
// Base: heatmap.png?alpha=0 (the model's view of the input, also for DICOM). Layer: the same
// overlay at alpha=1 with the chosen options. Showing the layer at CSS opacity a gives
// (1 - a|h|) image + a|h| colour, exactly the server's overlay at alpha=a, so the slider
// needs no new request; colour map, clip and polarity re-render on the server.

import { describe, imageUrl } from "./api.js";
import { el, setError, uniqueId } from "./dom.js";
import { methodName } from "./methods.js";

const CMAPS = ["auto", "cividis", "viridis", "magma", "inferno", "gray", "RdBu_r", "coolwarm"];
const RAMPS = {
  cividis: ["#00224e", "#575d6d", "#a59c74", "#fee838"],
  viridis: ["#440154", "#31688e", "#35b779", "#fde725"],
  magma: ["#000004", "#721f81", "#f1605d", "#fcfdbf"],
  inferno: ["#000004", "#781c6d", "#ed6925", "#fcffa4"],
  gray: ["#000000", "#ffffff"],
  RdBu_r: ["#053061", "#4393c3", "#f7f7f7", "#d6604d", "#67001f"],
  coolwarm: ["#3b4cc0", "#aac7fd", "#dddddd", "#f7a889", "#b40426"],
};

const base = (jobId) => `/v1/explanations/${jobId}/heatmap.png`;

/** The model's view of the input (any finished image explanation of the prediction). */
export function modelViewUrl(jobId) {
  return imageUrl(`${base(jobId)}?overlay=original&alpha=0`);
}

function select(id, label, options, value, onchange) {
  return [
    el("label", { htmlFor: id, text: label }),
    el("select", { id, onchange },
      options.map(([v, text]) => el("option", { value: v, text, selected: v === value }))),
  ];
}

export class HeatmapView {
  /** `regression`: the explained output is a value (evidence raises or lowers it). */
  constructor({ job, label, modelView, regression = false }) {
    this.job = job;
    this.options = { cmap: "auto", polarity: "positive", clip: 99 };
    this.url = null;
    const ids = { opacity: uniqueId("opacity"), cmap: uniqueId("cmap"),
      polarity: uniqueId("polarity"), clip: uniqueId("clip") };
    this.layer = el("img", { className: "layer", alt: "", "data-role": "heatmap" });
    this.layer.style.opacity = "0.5";
    this.baseImage = el("img", { alt: "The image as the model saw it", "data-role": "model-view" });
    modelView.then((url) => { this.baseImage.src = url; });
    this.viewer = el("div", { className: "viewer", role: "img",
      "aria-label": `${methodName(job.method)} heatmap over the image as the model saw it` },
      this.baseImage, this.layer);
    this.error = el("p", { className: "error", role: "alert", hidden: true });
    const opacityOut = el("output", { htmlFor: ids.opacity, text: "50 %" });
    const clipOut = el("output", { htmlFor: ids.clip, text: "99th percentile" });
    this.ramp = el("div", { className: "ramp", "aria-hidden": "true" });
    this.rampEnds = el("div", { className: "ends" });
    const controls = el("div", { className: "controls" },
      el("label", { htmlFor: ids.opacity }, "Heatmap opacity", opacityOut),
      el("input", { id: ids.opacity, type: "range", min: "0", max: "100", value: "50",
        oninput: (event) => {
          this.layer.style.opacity = String(event.target.value / 100);
          opacityOut.textContent = `${event.target.value} %`;
        } }),
      ...select(ids.cmap, "Colour map", CMAPS.map((c) => [c, c === "auto"
        ? "Automatic" : c]), "auto",
      (event) => this.update({ cmap: event.target.value })),
      el("p", { className: "help", text: "Automatic: cividis, which reads the same with "
        + "colour-vision deficiency; red–blue when both signs are shown." }),
      ...select(ids.polarity, "Show", [
        ["positive", regression ? `What raises “${label}”` : `Evidence for “${label}”`],
        ["negative", regression ? `What lowers “${label}”` : `Evidence against “${label}”`],
        ["both", "Both: for and against"],
        ["absolute", "Strength, either sign"],
      ], "positive", (event) => this.update({ polarity: event.target.value })),
      el("label", { htmlFor: ids.clip }, "Saturate above", clipOut),
      el("input", { id: ids.clip, type: "range", min: "50", max: "100", step: "0.5", value: "99",
        oninput: (event) => { clipOut.textContent = `${event.target.value}th percentile`; },
        onchange: (event) => this.update({ clip: Number(event.target.value) }) }),
      el("div", { className: "legend" }, this.ramp, this.rampEnds),
    );
    this.element = el("div", {}, el("div", { className: "viewer-row" }, this.viewer, controls),
      this.error);
    this.label = label;
    this.ends = regression ? ["lowers", "raises"] : ["against", "for"];
    this.update({});
  }

  async update(change) {
    Object.assign(this.options, change);
    this.drawLegend();
    const { cmap, polarity, clip } = this.options;
    const query = new URLSearchParams({ overlay: "original", alpha: "1", cmap, polarity,
      clip: String(clip) });
    this.viewer.setAttribute("aria-busy", "true");
    try {
      const url = await imageUrl(`${base(this.job.id)}?${query}`);
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = url;
      this.layer.src = url;
      this.layer.dataset.query = query.toString();
      setError(this.error, "");
    } catch (error) {
      setError(this.error, `The heatmap could not be drawn. ${describe(error)}`);
    } finally {
      this.viewer.removeAttribute("aria-busy");
    }
  }

  drawLegend() {
    const { cmap, polarity } = this.options;
    const resolved = cmap === "auto" ? (polarity === "both" ? "RdBu_r" : "cividis") : cmap;
    this.ramp.style.background = `linear-gradient(to right, ${RAMPS[resolved].join(", ")})`;
    const ends = polarity === "both"
      ? [`${this.ends[0]} “${this.label}”`, "none", `${this.ends[1]} “${this.label}”`]
      : ["none", "strongest"];
    this.rampEnds.replaceChildren(...ends.map((text) => el("span", { text })));
  }
}
