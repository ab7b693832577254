// The sign-in panel shared by every page: the token is kept in sessionStorage (this tab only)
// and sent with each API call; a 401 anywhere brings the panel back with a clear message.

import { ApiError, describe, token } from "./api.js";
import { el, setError } from "./dom.js";

function buildForm(panel, onSubmit) {
  const error = el("p", { id: "signin-error", className: "error", role: "alert", hidden: true });
  const input = el("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help signin-error",
  });
  const form = el("form", { id: "signin-form", onsubmit: (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      setError(error, "Enter your access token.");
      input.focus();
      return;
    }
    onSubmit(value);
  } },
    el("label", { htmlFor: "token", text: "Access token" }),
    input,
    el("p", { id: "token-help", className: "help",
      text: "Kept only in this browser tab and sent with every request to the server." }),
    error,
    el("button", { type: "submit", className: "primary", text: "Sign in" }),
  );
  panel.replaceChildren(el("h1", { id: "signin-title", text: "Sign in" }), form);
  return { input, error };
}

/**
 * Show the page once a token is known; `start()` loads the page's data and may throw an
 * ApiError (401/403 send the person back to the sign-in panel with the reason).
 */
export function signIn(start) {
  const panel = document.getElementById("signin");
  const app = document.getElementById("app");
  const session = document.getElementById("session");

  const showSignIn = (message) => {
    app.hidden = true;
    session.hidden = true;
    panel.hidden = false;
    setError(fields.error, message);
    fields.input.focus();
  };

  const enter = async () => {
    panel.hidden = true;
    app.hidden = false;
    session.hidden = false;
    try {
      await start();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        if (error.status === 401) token.clear();
        showSignIn(describe(error));
      } else {
        setError(document.getElementById("app-error"), describe(error));
      }
    }
  };

  const fields = buildForm(panel, (value) => {
    token.set(value);
    enter();
  });
  session.replaceChildren(
    el("span", { text: "Signed in" }),
    el("button", { type: "button", id: "sign-out", text: "Sign out", onclick: () => {
      token.clear();
      window.location.reload();
    } }),
  );
  window.addEventListener("xai:unauthorized", () => {
    token.clear();
    showSignIn(describe(new ApiError(401)));
  });

  if (token.get()) enter();
  else showSignIn("");
}
