// The auditor page: sign in with an auditor token and a stated purpose (sent with every call),
// verify the audit chain, search the archive page by page, and open a record to read, replay
// and report on it.

import { describe, getJson } from "./api.js";
import { RecordSearch } from "./audit-search.js";
import { RecordView } from "./audit-record.js";
import { el } from "./dom.js";
import { loadMethods } from "./methods.js";
import { signIn } from "./signin.js";

const $ = (id) => document.getElementById(id);
const FORBIDDEN = "This page is for auditors: your token's role may not read the audit archive "
  + "(403). Sign in with an auditor token.";

/** Suggestions for the model, version, method and diagnosis filters, from the served models. */
function suggest(models) {
  const lists = {
    "known-models": models.map((m) => m.name),
    "known-versions": models.map((m) => m.version),
    "known-methods": models.flatMap((m) => m.methods),
    "known-labels": models.flatMap((m) => m.manifest?.output?.labels || []),
  };
  for (const [id, values] of Object.entries(lists)) {
    $(id).replaceChildren(...[...new Set(values)].sort().map((v) => el("option", { value: v })));
  }
}

function showVerification(result) {
  const rows = Object.entries(result).filter(([key]) => !["ok", "reason"].includes(key));
  const headline = result.ok
    ? el("p", {}, el("span", { className: "status-pill succeeded", text: "✓ intact" }),
      ` The chain is intact: ${result.checked} records checked.`)
    : el("p", {}, el("span", { className: "status-pill failed", text: "✗ broken" }),
      ` The chain is broken at record #${result.first_bad_seq}: ${result.reason || "no reason given"}.`);
  $("verify-result").dataset.ok = String(result.ok);
  $("verify-result").replaceChildren(headline, el("dl", { className: "facts" }, rows.flatMap(([key, v]) => [
    el("dt", { text: key.replaceAll("_", " ") }),
    el("dd", { "data-key": key, text: v === null ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v) }),
  ])));
}

async function verify() {
  const button = $("verify");
  if (button.getAttribute("aria-disabled")) return;
  button.setAttribute("aria-disabled", "true");
  delete $("verify-result").dataset.ok;
  $("verify-result").replaceChildren(el("p", { className: "help", text: "Verifying the chain…" }));
  try {
    showVerification(await getJson("/v1/audit/verify"));
  } catch (error) {
    $("verify-result").replaceChildren(el("p", { className: "error", role: "alert",
      text: `The chain could not be verified. ${describe(error)}` }));
  } finally {
    button.removeAttribute("aria-disabled");
  }
}

const record = new RecordView($("record"), [$("search"), $("results")]);
const search = new RecordSearch({ onOpen: (id, button) => record.open(id, button) });
$("verify").onclick = verify;

signIn(async () => {
  await loadMethods(); // the methods' labels, before any record is listed
  await search.search(); // the first page, newest first; a 403 here means "not an auditor"
  suggest(await getJson("/v1/models"));
}, { askPurpose: true, forbidden: FORBIDDEN });
