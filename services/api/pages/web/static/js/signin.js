// The sign-in panel shared by every page: the token is kept in sessionStorage (this tab only)
// and sent with each API call; a 401 anywhere brings the panel back with a clear message.
// The auditor page also asks, once, for the purpose of the session: it goes out as
// X-Audit-Purpose on every call and is kept beside the token.

import { ApiError, describe, purpose, token } from "./api.js";
import { el, setError } from "./dom.js";

const MAX_PURPOSE = 1000;
// What the API refuses in a purpose: control and format characters (escape sequences, tabs,
// bidi overrides, zero-width), lone surrogates, line and paragraph separators. Any other text
// is sent, encoded when it is not ASCII (api.js, purposeHeader).
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

function purposeProblem(value) {
  if (!value) return "State the purpose of this audit session.";
  if ([...value].length > MAX_PURPOSE) return `Keep the purpose under ${MAX_PURPOSE} characters.`;
  if (UNPRINTABLE.test(value)) {
    return "Use printable text only: no tabs, control or invisible formatting characters.";
  }
  return "";
}

function field({ id, label, help, input }) {
  return [
    el("label", { htmlFor: id, text: label }),
    input,
    el("p", { id: `${id}-help`, className: "help", text: help }),
  ];
}

function buildForm(panel, { askPurpose, onSubmit }) {
  const error = el("p", { id: "signin-error", className: "error", role: "alert", hidden: true });
  const input = el("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help signin-error",
  });
  const reason = askPurpose ? el("input", {
    id: "purpose", name: "purpose", type: "text", autocomplete: "off", required: true,
    maxLength: MAX_PURPOSE, value: purpose.get() || "",
    "aria-describedby": "purpose-help signin-error",
  }) : null;
  const invalid = (control, message) => {
    setError(error, message);
    control.setAttribute("aria-invalid", "true");
    control.focus();
  };
  const form = el("form", { id: "signin-form", novalidate: true, onsubmit: (event) => {
    event.preventDefault();
    input.removeAttribute("aria-invalid");
    if (reason) reason.removeAttribute("aria-invalid");
    const value = input.value.trim();
    if (!value) return invalid(input, "Enter your access token.");
    const stated = reason ? reason.value.trim() : "";
    const problem = reason ? purposeProblem(stated) : "";
    if (problem) return invalid(reason, problem);
    return onSubmit(value, stated);
  } },
    field({ id: "token", label: "Access token", input,
      help: "Kept only in this browser tab and sent with every request to the server." }),
    reason ? field({ id: "purpose", label: "Purpose of this audit session", input: reason,
      help: "Required. Sent with every request and recorded in the access log, "
        + "for example “Quarterly review of pneumonia calls”." }) : null,
    error,
    el("button", { type: "submit", className: "primary", text: "Sign in" }),
  );
  panel.replaceChildren(el("h1", { id: "signin-title", text: "Sign in" }), form);
  return { input, reason, error };
}

/**
 * Show the page once a token (and, with `askPurpose`, a purpose) is known; `start()` loads the
 * page's data and may throw an ApiError (401/403 send the person back to the sign-in panel
 * with the reason; `forbidden` replaces the generic words for a 403).
 */
export function signIn(start, { askPurpose = false, forbidden = "" } = {}) {
  const panel = document.getElementById("signin");
  const app = document.getElementById("app");
  const session = document.getElementById("session");

  const showSignIn = (message) => {
    app.hidden = true;
    session.hidden = true;
    panel.hidden = false;
    setError(fields.error, message);
    (fields.input.value && fields.reason ? fields.reason : fields.input).focus();
  };

  const enter = async () => {
    panel.hidden = true;
    app.hidden = false;
    session.hidden = false;
    showSession();
    try {
      await start();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        if (error.status === 401) token.clear();
        showSignIn(error.status === 403 && forbidden ? forbidden : describe(error));
      } else {
        setError(document.getElementById("app-error"), describe(error));
      }
    }
  };

  const showSession = () => session.replaceChildren(
    el("span", { text: "Signed in" },
      askPurpose ? el("span", { className: "purpose", "data-role": "purpose", title: purpose.get() },
        "· purpose: ", el("q", { text: purpose.get() })) : null),
    el("button", { type: "button", id: "sign-out", text: "Sign out", onclick: () => {
      token.clear();
      purpose.clear();
      window.location.reload();
    } }),
  );

  const fields = buildForm(panel, { askPurpose, onSubmit: (value, stated) => {
    token.set(value);
    if (askPurpose) purpose.set(stated);
    enter();
  } });
  window.addEventListener("xai:unauthorized", () => {
    token.clear();
    showSignIn(describe(new ApiError(401)));
  });

  if (token.get() && (!askPurpose || purpose.get())) enter();
  else showSignIn("");
}
