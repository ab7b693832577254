// Searching the archive: the filter form becomes GET /v1/audit/records?…, the answer a table of
// records, newest first. Pages follow the API's cursor: Next uses the cursor it returned,
// Previous the one that led to the page before (kept in a stack), so a page never shifts under
// the reader's eyes while new records arrive.

import { describe, getJson } from "./api.js";
import { el, percent, setError } from "./dom.js";
import { methodName } from "./methods.js";
import { outcomeLine } from "./outcome.js";

const $ = (id) => document.getElementById(id);
const FILTERS = ["from", "to", "model", "version", "method", "label", "case_ref", "status", "limit"];
const DATES = new Set(["from", "to"]);

function dateCell(iso) {
  return el("td", {}, el("time", { dateTime: iso, text: new Date(iso).toLocaleString() }));
}

function explanationList(explanations) {
  if (explanations.length === 0) return el("span", { className: "help", text: "none" });
  return el("ul", { className: "inline-list" }, explanations.map((job) => el("li", {},
    `${methodName(job.method)}${job.target_label ? ` (${job.target_label})` : ""} `,
    el("span", { className: `status-pill ${job.status}`, text: job.status }))));
}

export class RecordSearch {
  /** `onOpen(id, button)` shows one record; the button gets focus back when it closes. */
  constructor({ onOpen }) {
    this.onOpen = onOpen;
    this.form = $("search-form");
    this.query = null;
    this.cursors = [null];
    this.index = 0;
    this.nextCursor = null;
    const quietly = (promise) => promise.catch(() => {}); // errors are shown by load()
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      quietly(this.search());
    });
    this.form.addEventListener("reset", () => setTimeout(() => quietly(this.search()), 0));
    $("page-next").onclick = () => quietly(this.turn(+1));
    $("page-previous").onclick = () => quietly(this.turn(-1));
  }

  /** The filters as typed, in the API's terms (dates as UTC ISO instants). */
  filters() {
    const query = new URLSearchParams();
    for (const name of FILTERS) {
      const value = this.form.elements[name].value.trim();
      if (!value) continue;
      query.set(name, DATES.has(name) ? new Date(value).toISOString() : value);
    }
    return query;
  }

  async search() {
    this.query = this.filters();
    this.cursors = [null];
    this.index = 0;
    await this.load();
  }

  async turn(step) {
    if (step > 0) this.cursors[this.index + 1] = this.nextCursor;
    this.index += step;
    const button = document.activeElement;
    if (!(await this.load())) this.index -= step;
    if (button && button.disabled) $("results-title").focus();
  }

  async load() {
    this.clearErrors();
    const query = new URLSearchParams(this.query);
    const cursor = this.cursors[this.index];
    if (cursor) query.set("cursor", cursor);
    $("results-status").textContent = "Searching…";
    $("search-submit").disabled = true;
    try {
      const page = await getJson(`/v1/audit/records?${query}`);
      this.nextCursor = page.next_cursor;
      this.render(page.items);
      return true;
    } catch (error) {
      $("results-status").textContent = "";
      this.showErrors(error);
      if (error.status === 401 || error.status === 403) throw error;
      return false;
    } finally {
      $("search-submit").disabled = false;
    }
  }

  render(items) {
    $("records").tBodies[0].replaceChildren(...items.map((record) => {
      const created = new Date(record.created_at).toLocaleString();
      return el("tr", { "data-record-id": record.id },
        dateCell(record.created_at),
        el("td", {}, `${record.model_name} / ${record.model_version}`, el("br"),
          el("code", { className: "help", title: record.model_sha256,
            text: `sha256 ${record.model_sha256.slice(0, 12)}…` })),
        el("td", {}, record.outcome ? outcomeLine(record.outcome) // summaries since outcomes
          : [el("strong", { text: record.label }), ` ${percent(record.probability)}`]),
        el("td", { text: record.input_kind }),
        el("td", {}, explanationList(record.explanations)),
        el("td", {}, el("button", { type: "button", "data-action": "open",
          "aria-label": `Open the record of ${created} (${record.label})`, text: "Open",
          onclick: (event) => this.onOpen(record.id, event.currentTarget) })),
      );
    }));
    const count = items.length;
    const page = this.index + 1;
    $("records").hidden = count === 0;
    $("results-status").textContent = count === 0
      ? (page === 1 ? "No record matches these filters." : "No further records.")
      : `Page ${page}: ${count} record${count === 1 ? "" : "s"}${this.nextCursor ? ", more on the next page" : ""}.`;
    $("page-number").textContent = `Page ${page}`;
    $("page-previous").disabled = this.index === 0;
    $("page-next").disabled = !this.nextCursor;
  }

  clearErrors() {
    setError($("search-error"), "");
    for (const name of FILTERS) {
      this.form.elements[name].removeAttribute("aria-invalid");
      setError($(`filter-${name}-error`), "");
    }
  }

  /** The API's reasons next to the filters they name; the rest above the table. */
  showErrors(error) {
    const unplaced = [];
    for (const { field, reason } of error.errors || []) {
      const name = String(field || "").split(".").pop();
      if (!FILTERS.includes(name)) {
        unplaced.push(reason);
        continue;
      }
      this.form.elements[name].setAttribute("aria-invalid", "true");
      setError($(`filter-${name}-error`), reason);
    }
    const invalid = this.form.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
    setError($("search-error"), unplaced.join(" ") || (invalid ? "" : describe(error)));
  }
}
