// The ops view: served models with their sha256, queue depth, job states, worker activity and
// the latest failures, from GET /v1/ops/status; refreshed every few seconds.

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

function render(status) {
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
    el("td", { className: "sha" }, el("code", { text: m.sha256 })),
  )));
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
    render(await getJson("/v1/ops/status"));
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
