// A tabular explanation: the archived waterfall chart and the top-features table from the
// explanation's summary (contributions in log-odds or probability of the explained class).

import { describe, imageUrl } from "./api.js";
import { el } from "./dom.js";

const signed = (v) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toPrecision(3)}`;

export function tabularView(explanation) {
  const summary = explanation.result.summary || {};
  const rows = summary.top_features || [];
  const units = summary.units || "model output";
  const image = el("img", { className: "waterfall", "data-role": "waterfall",
    alt: `Waterfall chart: how the ${rows.length} largest contributions move the model's output `
      + `from its average (${Number(summary.expected_value).toPrecision(3)}) to this case.` });
  const error = el("p", { className: "error", role: "alert", hidden: true });
  imageUrl(explanation.links.rendering)
    .then((url) => { image.src = url; })
    .catch((e) => { error.textContent = `The chart could not be loaded. ${describe(e)}`; error.hidden = false; });
  const table = el("table", { className: "top-features" },
    el("caption", { text: `Largest contributions, in ${units}. Positive values raise it.` }),
    el("thead", {}, el("tr", {},
      ["Rank", "Feature", "Value", "Contribution"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((row) => el("tr", {},
      el("td", { text: row.rank ?? "" }),
      el("th", { scope: "row", text: row.name }),
      el("td", { className: "num", text: row.value === null ? "" : Number(row.value).toPrecision(4) }),
      el("td", { className: "num", text: signed(row.shap) }),
    ))),
  );
  return el("div", {}, image, error, table);
}
