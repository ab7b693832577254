// The ops view: served models with their sha256, admission and methods (unavailable ones with
// admission's reason), bundle folders not served and why, queue depth, job states, worker
// activity and the latest failures, from GET /v1/ops/status and GET /v1/models; refreshed
// every few seconds.

import { describe, getJson } from "./api.js";
import { el, setError, timeText } from "./dom.js";
import { signIn } from "./signin.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
let timer = null;

function facts(node, pairs) {
  node.replaceChildren(...pairs.flatMap(([term, value, key]) => [
    el("dt", { text: term }), el("dd", { text: String(value), "data-key": key }),
  ]));
}

function admissionCell(model) {
  if (!model) return el("td", { text: "—" });
  return el("td", { "data-key": "admission",
    text: model.admitted ? "admitted" : "not admitted (no admission.json)" });
}

function methodsCell(model) {
  if (!model) return el("td", { text: "—" });
  const unavailable = Object.entries(model.unavailable_methods);
  return el("td", { "data-key": "methods" },
    el("span", { text: model.methods.join(", ") || "none" }),
    unavailable.length ? el("ul", { className: "meta" }, ...unavailable.map(([method, reason]) =>
      el("li", { "data-method": method, text: `${method} unavailable: ${reason}` }))) : null,
  );
}

function render(status, models) {
  const byKey = new Map(models.map((m) => [`${m.name}/${m.version}`, m]));
  const { queue, jobs, worker } = status;
  facts($("queue"), [
    ["Waiting in the broker", queue.depth === null ? "broker unreachable" : queue.depth, "depth"],
    ["Queue", queue.name, "queue"],
    ["Broker", queue.broker, "broker"],
  ]);
  facts($("jobs"), Object.entries(jobs).map(([state, count]) => [state, count, state]));
  facts($("worker"), [
    ["Last job started", timeText(worker.last_started_at), "last_started_at"],
    ["Last job finished", timeText(worker.last_finished_at), "last_finished_at"],
    ["Last worker", worker.last_worker || "—", "last_worker"],
    ["Running now", worker.running, "running"],
    ["Leases expired", worker.leases_expired, "leases_expired"],
  ]);
  $("models").tBodies[0].replaceChildren(...status.models.map((m) => el("tr", {
    "data-model": `${m.name}/${m.version}` },
    el("th", { scope: "row", text: m.name }),
    el("td", { text: m.version }),
    el("td", { text: m.task }),
    el("td", { text: m.default ? "yes" : "no" }),
    admissionCell(byKey.get(`${m.name}/${m.version}`)),
    methodsCell(byKey.get(`${m.name}/${m.version}`)),
    el("td", { className: "sha" }, el("code", { text: m.sha256 })),
  )));
  $("rejected").tBodies[0].replaceChildren(...status.rejected.map((r) => el("tr", {
    "data-model": `${r.name}/${r.version}` },
    el("th", { scope: "row", text: r.name }),
    el("td", { text: r.version }),
    el("td", { text: r.reason }),
  )));
  $("rejected").hidden = status.rejected.length === 0;
  $("no-rejected").hidden = status.rejected.length > 0;
  $("failures").tBodies[0].replaceChildren(...status.recent_failures.map((f) => el("tr", {
    "data-job-id": f.id },
    el("td", { text: timeText(f.finished_at) }),
    el("td", { text: f.model }),
    el("td", { text: f.method }),
    el("td", { className: "num", text: f.attempts }),
    el("td", { text: f.reason || "no reason recorded" }),
  )));
  $("failures").hidden = status.recent_failures.length === 0;
  $("no-failures").hidden = status.recent_failures.length > 0;
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [status, models] = await Promise.all([getJson("/v1/ops/status"), getJson("/v1/models")]);
    render(status, models);
    setError($("app-error"), "");
  } catch (error) {
    setError($("app-error"), describe(error));
    if (error.status === 401 || error.status === 403) throw error; // back to sign-in, no timer
  }
  timer = setTimeout(() => refresh().catch(() => {}), REFRESH_MS);
}

signIn(async () => {
  $("refresh").onclick = () => refresh().catch(() => {});
  await refresh();
});
