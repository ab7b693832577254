// Quality badges: each figure the worker recorded, judged against its threshold, with a
// plain-language tooltip (shown on hover and on keyboard focus). Word + symbol, not colour only.

import { el, percent, uniqueId } from "./dom.js";

const scientific = (v) => (v === 0 ? "0" : v.toExponential(1));

const CHECKS = [
  {
    key: "completeness_delta_relative",
    name: "Completeness",
    value: (v) => `gap ${percent(v)}`,
    good: (v, parameters) => v <= (parameters.max_relative_delta ?? 0.05),
    tip: (v) => "Integrated Gradients must add up to the change of the model's score between a "
      + `black image and this one. The part that does not add up is ${percent(v)} of that `
      + "change; under 5 % means the map accounts for the decision.",
  },
  {
    key: "additivity_error",
    name: "Additivity",
    value: (v) => `error ${scientific(v)}`,
    good: (v) => v < 1e-3,
    tip: (v, units) => "The contributions of all measurements plus the average output must equal "
      + `this case's model output exactly (in ${units || "model units"}). They differ by `
      + `${scientific(v)}; below 0.001 means nothing is missing from the explanation.`,
  },
  {
    key: "parity_max_abs_diff",
    name: "Parity",
    value: (v) => `diff ${scientific(v)}`,
    good: (v) => v <= 1e-4,
    tip: (v) => "The explanation is computed on a copy of the served model. On this case the copy's "
      + `outputs differ from the served model's by at most ${scientific(v)}: it explains the very `
      + "model that gave the diagnosis.",
  },
  {
    key: "served_parity_max_abs_diff",
    name: "Parity",
    value: (v) => `diff ${scientific(v)}`,
    good: (v) => v <= 1e-4,
    tip: (v) => "The trees were read from the served model file. Their output differs from the "
      + `served model's by at most ${scientific(v)} on this case: the explanation is of the very `
      + "model that gave the diagnosis.",
  },
];

export function qualityBadges(result) {
  const quality = result.quality || {};
  const parameters = result.parameters || {};
  const units = (result.summary || {}).units;
  const badges = CHECKS.filter((check) => typeof quality[check.key] === "number").map((check) => {
    const value = quality[check.key];
    const good = check.good(value, parameters);
    const tipId = uniqueId("tip");
    return el("span", { className: "badge-wrap" },
      el("span", {
        className: `badge ${good ? "good" : "check"}`, tabindex: "0",
        "aria-describedby": tipId, "data-quality": check.key,
        text: `${good ? "✓" : "!"} ${check.name}: ${check.value(value)} · ${good ? "good" : "check"}`,
      }),
      el("span", { className: "tip", role: "tooltip", id: tipId, text: check.tip(value, units) }),
    );
  });
  if (badges.length === 0) return null;
  return el("div", { className: "badges", role: "group", "aria-label": "Quality of this explanation" },
    badges);
}
