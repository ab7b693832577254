// The explanations of one prediction: a tab per method (arrow keys switch), each showing its
// status and, once the worker is done, the heatmap or the waterfall. Status changes arrive by
// Server-Sent Events; if the stream cannot be opened the page polls instead.

import { describe, eventsUrl, getJson } from "./api.js";
import { clear, el } from "./dom.js";
import { HeatmapView, modelViewUrl } from "./image-view.js";
import { methodDescription, methodLimitations, methodName } from "./methods.js";
import { qualityBadges } from "./quality.js";
import { tabularView } from "./tabular-view.js";

const FINAL = new Set(["succeeded", "failed"]);
const STATUS_TEXT = { queued: "queued", running: "computing…", succeeded: "ready", failed: "failed" };
const POLL_MS = 2000;

export class Explanations {
  constructor({ prediction, model }) {
    this.prediction = prediction;
    this.model = model;
    this.jobs = new Map();
    this.modelView = null;
    this.source = null;
    this.poller = null;
    this.tablist = clear(document.getElementById("method-tabs"));
    this.panels = clear(document.getElementById("method-panels"));
    prediction.explanations.forEach((job, index) => this.addJob(job, index === 0));
    if (this.jobs.size === 0) {
      this.panels.append(el("p", { className: "help", text: "No explanation was requested." }));
      return;
    }
    this.listen();
  }

  addJob(job, selected) {
    const tabId = `tab-${job.method}`;
    const panelId = `panel-${job.method}`;
    const status = el("span", { className: "status" });
    const tab = el("button", {
      type: "button", role: "tab", id: tabId, "aria-controls": panelId,
      "aria-selected": String(selected), tabindex: selected ? "0" : "-1",
      "data-method": job.method, onclick: () => this.select(job.method),
      onkeydown: (event) => this.keyNav(event),
    }, methodName(job.method), status);
    const body = el("div", { "data-role": "body" });
    const panel = el("div", {
      role: "tabpanel", id: panelId, "aria-labelledby": tabId, tabindex: "0",
      "data-method": job.method, "data-job-id": job.id, hidden: !selected,
    }, el("p", { className: "help", text: methodDescription(job.method) }),
    el("p", { className: "help", "data-role": "limitations",
      text: `Limitations: ${methodLimitations(job.method)}` }), body);
    this.tablist.append(tab);
    this.panels.append(panel);
    this.jobs.set(job.id, { ...job, tab, status, panel, body, rendered: false });
    this.setStatus(job.id, job.status, null);
  }

  select(method) {
    for (const job of this.jobs.values()) {
      const on = job.method === method;
      job.tab.setAttribute("aria-selected", String(on));
      job.tab.tabIndex = on ? 0 : -1;
      job.panel.hidden = !on;
      if (on) job.tab.focus();
    }
  }

  keyNav(event) {
    const tabs = [...this.tablist.querySelectorAll("[role=tab]")];
    const index = tabs.indexOf(event.currentTarget);
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
    this.select(next.dataset.method);
  }

  listen() {
    this.source = new EventSource(eventsUrl(this.prediction.links.events));
    this.source.addEventListener("job", (event) => {
      const data = JSON.parse(event.data);
      this.setStatus(data.id, data.status, data.last_error);
    });
    this.source.addEventListener("done", () => this.source.close());
    this.source.addEventListener("error", () => {
      if (this.source.readyState === EventSource.CLOSED) this.poll();
    });
  }

  poll() {
    const pending = [...this.jobs.values()].filter((job) => !FINAL.has(job.current));
    if (pending.length === 0) return;
    Promise.all(pending.map(async (job) => {
      const body = await getJson(job.links.self);
      this.setStatus(job.id, body.status, body.last_error);
    })).catch(() => {}).finally(() => { this.poller = setTimeout(() => this.poll(), POLL_MS); });
  }

  close() {
    if (this.source) this.source.close();
    clearTimeout(this.poller);
  }

  setStatus(jobId, status, lastError) {
    const job = this.jobs.get(jobId);
    if (!job || job.current === status) return;
    job.current = status;
    job.status.textContent = `(${STATUS_TEXT[status] || status})`;
    job.tab.dataset.status = status;
    job.panel.dataset.status = status;
    if (status === "succeeded") this.showResult(job);
    else if (status === "failed") {
      job.body.replaceChildren(el("p", { className: "error", role: "alert",
        text: `This explanation failed: ${lastError || "no reason recorded"}` }));
    } else {
      job.body.replaceChildren(el("p", {},
        el("span", { className: `status-pill ${status}`, text: STATUS_TEXT[status] || status }),
        ` ${methodName(job.method)} is ${status === "queued" ? "waiting for a worker" : "being computed"}; it will appear here by itself.`));
    }
  }

  async showResult(job) {
    if (job.rendered) return;
    job.rendered = true;
    try {
      const explanation = await getJson(job.links.self);
      const labels = this.model.manifest.output.labels;
      const label = labels[explanation.target] ?? this.prediction.diagnosis.label;
      let view;
      if (this.prediction.input.kind === "image") {
        this.modelView = this.modelView || modelViewUrl(job.id);
        view = new HeatmapView({ job, label, modelView: this.modelView }).element;
      } else {
        view = tabularView(explanation);
      }
      const ms = explanation.result.compute_ms;
      const took = ms < 1000 ? `${Math.max(1, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
      job.body.replaceChildren(
        el("p", {}, el("span", { className: "status-pill succeeded", text: "ready" }),
          ` Explains “${label}” · computed in ${took}`
          + ` on ${explanation.device || "unknown device"}`),
        qualityBadges(job.method, explanation.result) || "",
        parametersLine(explanation.result.parameters),
        view,
      );
    } catch (error) {
      job.rendered = false;
      job.body.replaceChildren(el("p", { className: "error", role: "alert",
        text: `This explanation could not be shown. ${describe(error)}` }));
    }
  }
}

/** The parameters the worker used, as it archived them. */
function parametersLine(parameters) {
  const entries = Object.entries(parameters || {});
  if (entries.length === 0) return "";
  return el("p", { className: "meta", "data-role": "parameters",
    text: `Computed with ${entries.map(([name, value]) => `${name} = ${value}`).join(" · ")}` });
}
