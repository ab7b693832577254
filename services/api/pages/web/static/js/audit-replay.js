// Replaying an archived explanation: POST /v1/audit/replays asks a worker to compute it again
// from the archived input, model and parameters; the page polls GET /v1/audit/replays/{id} and
// shows how far the new result agrees with the archived one.

import { describe, getJson, request } from "./api.js";
import { el, setError, uniqueId } from "./dom.js";

const POLL_MS = 1000;
const GIVE_UP_MS = 10 * 60 * 1000;
const FINAL = new Set(["succeeded", "failed"]);
const FIGURES = [
  ["exact", "Bit-for-bit identical", (v) => (v ? "yes" : "no")],
  ["max_abs_diff", "Largest absolute difference", (v) => (v === 0 ? "0" : Number(v).toExponential(2))],
  ["spearman", "Spearman rank correlation", (v) => Number(v).toFixed(4)],
  ["top_features_same", "Same top features", (v) => (v ? "yes" : "no")],
];
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function list(rows, attributes = {}) {
  return el("dl", { className: "facts", ...attributes }, rows.flatMap(([key, term, text]) => [
    el("dt", { text: term }), el("dd", { "data-key": key, text }),
  ]));
}

/** The four agreement figures, then whatever else the worker recorded, folded. */
function outcomeView(outcome) {
  const known = new Set(FIGURES.map(([key]) => key));
  const main = FIGURES.filter(([key]) => key in outcome)
    .map(([key, term, format]) => [key, term, outcome[key] === null ? "—" : format(outcome[key])]);
  const more = Object.entries(outcome).filter(([key]) => !known.has(key)).map(([key, value]) => [
    key, key.replaceAll("_", " "), typeof value === "object" ? JSON.stringify(value) : String(value)]);
  return [
    list(main, { "data-role": "agreement" }),
    more.length ? el("details", { className: "more" }, el("summary", { text: "All replay figures" }),
      list(more, { className: "facts record-facts" })) : null,
  ];
}

function verdict(outcome) {
  if (outcome.exact) return ["succeeded", "✓ The replay reproduced the archived explanation exactly."];
  if (outcome.top_features_same) return ["check", "≈ The replay agrees on the top features, not bit for bit."];
  return ["failed", "✗ The replay disagrees with the archived explanation."];
}

/** The Replay button of one explanation, with its live status and agreement figures. */
export function replayControl(explanation) {
  const statusId = uniqueId("replay-status");
  const status = el("p", { id: statusId, className: "help", "data-role": "replay-status" });
  const error = el("p", { className: "error", role: "alert", hidden: true });
  const figures = el("div", { "aria-live": "polite", "data-role": "replay-outcome" });
  const button = el("button", { type: "button", "data-action": "replay",
    "aria-describedby": statusId, text: "Replay", onclick: () => run() });
  const box = el("div", { className: "replay", "data-explanation-id": explanation.id },
    el("div", { className: "replay-row", "aria-live": "polite" }, button, status), figures, error);

  const show = (replay) => {
    box.dataset.status = replay.status;
    status.textContent = {
      queued: "Replay queued: waiting for a worker…",
      running: "Replay running…",
      succeeded: "Replay finished.",
      failed: "Replay failed.",
    }[replay.status] || `Replay ${replay.status}`;
  };

  let running = false;
  async function run() {
    if (running) return; // aria-disabled, not disabled: the button keeps keyboard focus
    running = true;
    button.setAttribute("aria-disabled", "true");
    setError(error, "");
    figures.replaceChildren();
    try {
      const response = await request("/v1/audit/replays", {
        method: "POST", json: { explanation_id: explanation.id } });
      let replay = await response.json();
      const deadline = Date.now() + GIVE_UP_MS;
      show(replay);
      while (!FINAL.has(replay.status) && box.isConnected && Date.now() < deadline) {
        await sleep(POLL_MS);
        replay = await getJson(`/v1/audit/replays/${replay.id}`);
        show(replay);
      }
      if (replay.status === "failed") setError(error, `The replay failed: ${replay.error || "no reason recorded"}`);
      else if (replay.status === "succeeded" && replay.outcome) {
        const [kind, words] = verdict(replay.outcome);
        figures.replaceChildren(
          el("p", {}, el("span", { className: `status-pill ${kind}`, "data-role": "verdict", text: words })),
          ...outcomeView(replay.outcome));
      } else if (!FINAL.has(replay.status) && box.isConnected) {
        setError(error, "The replay is still not finished; try again later.");
      }
    } catch (failure) {
      status.textContent = "";
      setError(error, `The replay could not be run. ${describe(failure)}`);
    } finally {
      running = false;
      button.removeAttribute("aria-disabled");
    }
  }

  return box;
}
