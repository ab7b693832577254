// Quality badges: each figure the worker recorded that the method registry gives a bound,
// judged against it, with the registry's plain-words reading as a tooltip (shown on hover and
// on keyboard focus). Word + symbol, not colour only.

import { el, percent, uniqueId } from "./dom.js";
import { fillReading, qualityFigures } from "./methods.js";

const scientific = (v) => (v === 0 ? "0" : v.toExponential(1));

/** The bound a figure is judged by: its own, or the job's parameter it names. */
function boundOf(figure, parameters) {
  if (figure.bound_parameter) return parameters[figure.bound_parameter] ?? null;
  return figure.bound;
}

export function qualityBadges(method, result) {
  const quality = result.quality || {};
  const parameters = result.parameters || {};
  const badges = qualityFigures(method).flatMap((figure) => {
    const value = quality[figure.name];
    const bound = boundOf(figure, parameters);
    if (typeof value !== "number" || typeof bound !== "number") return [];
    const good = value <= bound;
    const shown = figure.percent ? percent(value) : scientific(value);
    const limit = figure.percent ? percent(bound) : scientific(bound);
    const tipId = uniqueId("tip");
    return [el("span", { className: "badge-wrap" },
      el("span", {
        className: `badge ${good ? "good" : "check"}`, tabindex: "0",
        "aria-describedby": tipId, "data-quality": figure.name,
        text: `${good ? "✓" : "!"} ${figure.label}: ${shown} · ${good ? "good" : "check"}`,
      }),
      el("span", { className: "tip", role: "tooltip", id: tipId,
        text: `${fillReading(figure.reading, value)} Good when at most ${limit}.` }),
    )];
  });
  if (badges.length === 0) return null;
  return el("div", { className: "badges", role: "group", "aria-label": "Quality of this explanation" },
    badges);
}
