// The explanations of one prediction: a tab per method (arrow keys switch), each showing its
// status and, once the worker is done, the heatmap or the waterfall. A prediction explains one
// or more targets (classes, findings; one job per method and target): when it has several, a
// labelled select picks the target whose explanations the tabs show. Status changes arrive by
// Server-Sent Events, per job id; if the stream cannot be opened the page polls instead.

import { describe, eventsUrl, getJson } from "./api.js";
import { clear, el, percent } from "./dom.js";
import { HeatmapView, modelViewUrl } from "./image-view.js";
import { methodDescription, methodLimitations, methodName } from "./methods.js";
import { sortedFindings, targetNoun } from "./outcome.js";
import { qualityBadges } from "./quality.js";
import { tabularView } from "./tabular-view.js";

const FINAL = new Set(["succeeded", "failed"]);
const STATUS_TEXT = { queued: "queued", running: "computing…", succeeded: "ready", failed: "failed" };
const POLL_MS = 2000;

/** The targets of `jobs` (their labels), in the outcome's order: most probable first. */
function targetOrder(outcome, labels) {
  const rank = outcome.mode === "multi-label"
    ? sortedFindings(outcome).map((f) => f.label)
    : Object.entries(outcome.probabilities).sort((a, b) => b[1] - a[1]).map(([label]) => label);
  const place = (label) => (rank.includes(label) ? rank.indexOf(label) : rank.length);
  return [...new Set(labels)].sort((a, b) => place(a) - place(b));
}

/** What a target is, in words: "pneumonia (72.0 %, positive)"; `quoted`: “pneumonia” (…). */
function targetText(outcome, target, quoted = false) {
  const label = quoted ? `“${target}”` : target;
  if (outcome.mode === "regression") return label;
  const finding = (outcome.findings || []).find((f) => f.label === target);
  if (finding) {
    return `${label} (${percent(finding.probability)}, ${finding.positive ? "positive" : "below threshold"})`;
  }
  const p = outcome.probabilities[target];
  return p === undefined ? label : `${label} (${percent(p)})`;
}

export class Explanations {
  constructor({ prediction, model }) {
    this.prediction = prediction;
    this.model = model;
    this.outcome = prediction.diagnosis;
    this.jobs = new Map();
    this.tabs = new Map();
    this.modelView = null;
    this.source = null;
    this.poller = null;
    this.tablist = clear(document.getElementById("method-tabs"));
    this.panels = clear(document.getElementById("method-panels"));
    this.switcher = clear(document.getElementById("target-switch"));
    this.switcher.hidden = true;
    const jobs = prediction.explanations;
    if (jobs.length === 0) {
      this.panels.append(el("p", { className: "help", text: "No explanation was requested." }));
      return;
    }
    this.targets = targetOrder(this.outcome, jobs.map((job) => this.targetOf(job)));
    this.method = jobs[0].method;
    this.target = this.targets[0];
    for (const method of new Set(jobs.map((job) => job.method))) this.addTab(method);
    jobs.forEach((job, index) => this.addJob(job, index));
    if (this.targets.length > 1) this.addSwitcher();
    this.show();
    this.listen();
  }

  /** The label a job explains (jobs before 0.3.0 carry only the column). */
  targetOf(job) {
    return job.target_label ?? this.model.manifest.output.labels[job.target] ?? String(job.target);
  }

  addTab(method) {
    const status = el("span", { className: "status" });
    const tab = el("button", {
      type: "button", role: "tab", id: `tab-${method}`, "data-method": method,
      onclick: () => this.select(method), onkeydown: (event) => this.keyNav(event),
    }, methodName(method), status);
    this.tablist.append(tab);
    this.tabs.set(method, { tab, status });
  }

  addJob(job, index) {
    const target = this.targetOf(job);
    const body = el("div", { "data-role": "body" });
    const panel = el("div", {
      role: "tabpanel", id: `panel-${index}`, "aria-labelledby": `tab-${job.method}`, tabindex: "0",
      "data-method": job.method, "data-job-id": job.id, "data-target-label": target, hidden: true,
    }, el("p", { className: "help", text: methodDescription(job.method) }),
    el("p", { className: "help", "data-role": "limitations",
      text: `Limitations: ${methodLimitations(job.method)}` }), body);
    this.panels.append(panel);
    this.jobs.set(job.id, { ...job, targetLabel: target, panel, body, rendered: false });
    this.setStatus(job.id, job.status, null);
  }

  /** The select of the explained target, and a live line saying which one is shown. */
  addSwitcher() {
    const noun = targetNoun(this.outcome);
    const select = el("select", { id: "target-select", "aria-describedby": "target-help",
      onchange: (event) => this.selectTarget(event.target.value) },
    this.targets.map((label) => el("option", { value: label, text: targetText(this.outcome, label) })));
    this.shown = el("p", { id: "target-shown", className: "help", "aria-live": "polite",
      "data-role": "target-shown" });
    this.switcher.replaceChildren(
      el("label", { htmlFor: "target-select", text: `${noun[0].toUpperCase()}${noun.slice(1)} explained` }),
      select,
      el("p", { id: "target-help", className: "help",
        text: `This prediction is explained for ${this.targets.length} ${noun === "class" ? "classes" : `${noun}s`}; `
          + "the tabs below show the one chosen here." }),
      this.shown,
    );
    this.switcher.hidden = false;
  }

  /** The job of `method` for the chosen target (the method's first job if it has none). */
  jobFor(method) {
    const jobs = [...this.jobs.values()].filter((job) => job.method === method);
    return jobs.find((job) => job.targetLabel === this.target) || jobs[0];
  }

  select(method) {
    this.method = method;
    this.show();
    this.tabs.get(method).tab.focus();
  }

  selectTarget(label) {
    this.target = label;
    this.show();
  }

  show() {
    const visible = new Set();
    for (const [method, { tab }] of this.tabs) {
      const on = method === this.method;
      const job = this.jobFor(method);
      visible.add(on ? job.id : null);
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      tab.setAttribute("aria-controls", job.panel.id);
      this.showStatus(method);
    }
    for (const job of this.jobs.values()) job.panel.hidden = !visible.has(job.id);
    if (this.shown) {
      this.shown.textContent = `Showing the explanations of “${this.target}”.`;
    }
  }

  /** A tab shows the status of its job for the chosen target. */
  showStatus(method) {
    const { tab, status } = this.tabs.get(method);
    const job = this.jobFor(method);
    status.textContent = `(${STATUS_TEXT[job.current] || job.current})`;
    tab.dataset.status = job.current;
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
    job.panel.dataset.status = status;
    this.showStatus(job.method);
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
      const label = explanation.target_label ?? job.targetLabel;
      let view;
      if (this.prediction.input.kind === "image") {
        this.modelView = this.modelView || modelViewUrl(job.id);
        view = new HeatmapView({ job, label, modelView: this.modelView,
          regression: this.outcome.mode === "regression" }).element;
      } else {
        view = tabularView(explanation);
      }
      const ms = explanation.result.compute_ms;
      const took = ms < 1000 ? `${Math.max(1, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
      job.body.replaceChildren(
        el("p", {}, el("span", { className: "status-pill succeeded", text: "ready" }),
          ` Explains the ${targetNoun(this.outcome)} ${targetText(this.outcome, label, true)}`
          + ` · computed in ${took}`
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
