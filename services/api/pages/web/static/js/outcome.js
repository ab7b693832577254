// A model's outcome as the API reads it from the manifest (shared/bundles/outcome.py), in
// words: single-label (the top class with every class's probability), multi-label (every
// finding against its threshold, the positive ones marked in words, not by colour alone) or
// regression (the value in its unit, and whether it lies in the reference range).
// The clinical page shows it as the diagnosis; the auditor's record shows the same view.

import { el, percent } from "./dom.js";

const number = (v) => Number(v.toPrecision(4)).toString();
const withUnit = (v, unit) => (unit ? `${number(v)} ${unit}` : number(v));

/** A meter bar (its width set from data-p by `sizeMeters`), with the threshold marked. */
function meter(p, threshold) {
  return el("div", { className: "meter", "aria-hidden": "true" },
    el("span", { "data-p": String(p) }),
    threshold === undefined ? null : el("i", { className: "threshold", "data-p": String(threshold) }));
}

/** Set each meter's widths (the CSP forbids inline style attributes in markup). */
export function sizeMeters(root) {
  for (const bar of root.querySelectorAll(".meter [data-p]")) {
    const share = `${100 * Number(bar.dataset.p)}%`;
    if (bar.classList.contains("threshold")) bar.style.left = share;
    else bar.style.width = share;
  }
}

function singleLabel(outcome) {
  const rows = Object.entries(outcome.probabilities).sort((a, b) => b[1] - a[1]);
  return [
    el("p", { className: "diagnosis" },
      el("span", { className: "label", "data-role": "label", text: outcome.label }),
      el("span", { className: "probability", text: `probability ${percent(outcome.probability)}` })),
    el("table", { className: "probabilities" },
      el("caption", { text: "Probability of each class, most probable first" }),
      el("tbody", {}, rows.map(([label, p]) => el("tr", { "data-label": label },
        el("th", { scope: "row", text: label }),
        el("td", {}, meter(p)),
        el("td", { className: "num", text: percent(p) }),
      )))),
  ];
}

/** The findings, most probable first. */
export function sortedFindings(outcome) {
  return [...outcome.findings].sort((a, b) => b.probability - a.probability || a.index - b.index);
}

function multiLabel(outcome) {
  const findings = sortedFindings(outcome);
  const positive = findings.filter((f) => f.positive);
  const headline = positive.length
    ? el("p", { className: "diagnosis", "data-role": "positive-findings" },
      el("span", { className: "label", text: positive.map((f) => f.label).join(", ") }),
      el("span", { className: "probability",
        text: `${positive.length} of ${findings.length} findings positive` }))
    : el("p", { className: "diagnosis", "data-role": "positive-findings" },
      el("span", { className: "label", text: "No positive finding" }),
      el("span", { className: "probability", text: `none of ${findings.length} reaches its `
        + `threshold; most probable: ${findings[0].label}, ${percent(findings[0].probability)}` }));
  return [
    headline,
    el("table", { className: "probabilities findings" },
      el("caption", { text: "Each finding's probability against its threshold, most probable first" }),
      el("thead", {}, el("tr", {},
        ["Finding", "Probability", "Threshold", "Result"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, findings.map((f) => el("tr", {
        "data-label": f.label, "data-positive": String(f.positive),
        className: f.positive ? "positive" : undefined,
      },
      el("th", { scope: "row", text: f.label }),
      el("td", {}, el("div", { className: "finding-bar" }, meter(f.probability, f.threshold),
        el("span", { className: "num", "data-role": "probability", text: percent(f.probability) }))),
      el("td", { className: "num", "data-role": "threshold", text: percent(f.threshold) }),
      el("td", { "data-role": "result" }, f.positive
        ? el("strong", { className: "finding-mark" },
          el("span", { "aria-hidden": "true", text: "✓ " }), "Positive")
        : el("span", { text: "Below threshold" })),
      )))),
  ];
}

/** Where a value lies against a reference range, in words. */
export function rangeWords(outcome) {
  const { value, unit, reference_range: range } = outcome;
  if (!range) return "No reference range is given for this model.";
  const [low, high] = range;
  const span = `${withUnit(low, unit)} to ${withUnit(high, unit)}`;
  if (outcome.in_range) return `Inside the reference range (${span}).`;
  const side = value > high ? "above" : "below";
  return `Outside the reference range: ${side} ${span}.`;
}

function regression(outcome) {
  return [
    el("p", { className: "diagnosis" },
      el("span", { className: "label", "data-role": "label", text: outcome.label }),
      el("span", { className: "label", "data-role": "value", text: withUnit(outcome.value, outcome.unit) })),
    el("p", { "data-role": "range", "data-in-range": String(outcome.in_range),
      className: outcome.in_range === false ? "range outside" : "range", text: rangeWords(outcome) }),
  ];
}

/** The outcome as elements (call `sizeMeters` once they are in the page). */
export function outcomeView(outcome) {
  if (outcome.mode === "multi-label") return multiLabel(outcome);
  if (outcome.mode === "regression") return regression(outcome);
  return singleLabel(outcome);
}

/** One line for lists (the auditor's search): the top class, the positive findings, or the
 * value with its unit. */
export function outcomeLine(outcome) {
  if (outcome.mode === "multi-label") {
    const positive = sortedFindings(outcome).filter((f) => f.positive).map((f) => f.label);
    return positive.length ? `positive: ${positive.join(", ")}` : "no positive finding";
  }
  if (outcome.mode === "regression") return `${outcome.label} ${withUnit(outcome.value, outcome.unit)}`;
  return `${outcome.label} ${percent(outcome.probability)}`;
}

/** How the page names what an explanation explains: a class, a finding, or the value. */
export function targetNoun(outcome) {
  return { "multi-label": "finding", regression: "output" }[outcome.mode] || "class";
}
