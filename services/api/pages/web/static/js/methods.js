// The explanation methods as the API declares them (GET /v1/methods): each method's label, its
// plain-words summary and limitations, its parameters and the quality figures it records, with
// their readings and bounds. Loaded once after sign-in; this page names no method itself.

import { getJson } from "./api.js";

let methods = new Map();

/** Fetch the registry (call once, after sign-in, before anything is shown). */
export async function loadMethods() {
  methods = new Map((await getJson("/v1/methods")).map((m) => [m.name, m]));
  return methods;
}

export function methodName(name) {
  return methods.get(name)?.label || name;
}

export function methodDescription(name) {
  return methods.get(name)?.plain || "";
}

export function methodLimitations(name) {
  return methods.get(name)?.limitations || "";
}

/** The quality figures `name` records: { name, label, reading, bound, bound_parameter, percent }. */
export function qualityFigures(name) {
  return methods.get(name)?.quality || [];
}

/** A declared parameter of `method` ({ name, type, default, minimum, maximum, choices, … }). */
export function parameterOf(method, parameter) {
  return (methods.get(method)?.parameters || []).find((p) => p.name === parameter) || null;
}

/**
 * A reading template filled with `value`, as Python's str.format would for the specs the
 * registry uses: `{value:.3g}`, `{value:.2%}`, `{value:.0f}` (and a bare `{value}`).
 */
export function fillReading(template, value) {
  return template.replace(/\{value(?::\.(\d+)([gf%]))?\}/g, (_, digits, kind) => {
    const n = Number(digits);
    if (kind === "g") return String(Number(value.toPrecision(Math.max(1, n))));
    if (kind === "f") return value.toFixed(n);
    if (kind === "%") return `${(100 * value).toFixed(n)}%`;
    return String(value);
  });
}
