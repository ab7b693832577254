// Every call to the API goes through here: the sign-in token rides along as
// `Authorization: Bearer <token>` (and an auditor's stated purpose as `X-Audit-Purpose`), and
// errors come back as ApiError carrying the RFC 9457 problem (title, detail, and
// `errors[].field` for invalid input).

/** A value kept in this tab's sessionStorage (gone when the tab closes). */
function stored(key) {
  return {
    get: () => sessionStorage.getItem(key),
    set: (value) => sessionStorage.setItem(key, value),
    clear: () => sessionStorage.removeItem(key),
  };
}

export const token = stored("xai.token");
/** The auditor's stated purpose, sent with every call once given (the API logs it). */
export const purpose = stored("xai.purpose");

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

/** Plain words for an error, shown to the person at the screen. */
export function describe(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in this page: ${error}`;
  switch (error.status) {
    case 0:
      return "The server could not be reached. Check the connection and try again.";
    case 401:
      return "Your token was not accepted (401). Sign in again with a valid token.";
    case 403:
      return "Your role does not allow this (403). Ask for a token with the right role.";
    default:
      return error.detail ? `${error.title || "Error"}: ${error.detail}` : error.message;
  }
}

function authHeaders(accept) {
  const headers = { Accept: accept };
  const value = token.get();
  if (value) headers.Authorization = `Bearer ${value}`;
  const reason = purpose.get();
  if (reason) headers["X-Audit-Purpose"] = purposeHeader(reason);
  return headers;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const EXT_VALUE_SHAPE = /^[A-Za-z0-9!#$&+\-^_`{}~]+'[A-Za-z0-9-]*'/;

/**
 * The X-Audit-Purpose value that carries `text` exactly: printable ASCII as it is, any other
 * text (and ASCII that would read as an encoded value) as the RFC 8187 ext-value
 * `UTF-8''<percent-encoded UTF-8>`, which the API decodes. A header carries bytes, and only
 * ASCII has one reading: fetch() would send other characters as Latin-1 or refuse them.
 */
export function purposeHeader(text) {
  if (PRINTABLE_ASCII.test(text) && !EXT_VALUE_SHAPE.test(text)) return text;
  const encoded = encodeURIComponent(text).replace(
    /['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `UTF-8''${encoded}`;
}

async function problemOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = { title: response.statusText };
  }
  return new ApiError(response.status, body);
}

/** fetch() with the token; resolves to the Response when 2xx, else throws ApiError. */
export async function request(path, { method = "GET", json, form, accept = "application/json" } = {}) {
  const headers = authHeaders(accept);
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch (cause) {
    throw new ApiError(0, { title: "Network error", detail: String(cause) });
  }
  if (!response.ok) {
    const error = await problemOf(response);
    if (error.status === 401) window.dispatchEvent(new CustomEvent("xai:unauthorized"));
    throw error;
  }
  return response;
}

export async function getJson(path) {
  return (await request(path)).json();
}

/** An image fetched with the token (an <img src> cannot send headers), as an object URL. */
export async function imageUrl(path) {
  return (await blobOf(path, "image/png")).url;
}

/** Any file fetched with the token: its object URL, media type, size in bytes, and the name
 * the server gave it (Content-Disposition), if any. */
export async function blobOf(path, accept = "*/*") {
  const response = await request(path, { accept });
  const disposition = response.headers.get("content-disposition") || "";
  const filename = (/filename="([^"]+)"/.exec(disposition) || [])[1] || null;
  const blob = await response.blob();
  return { url: URL.createObjectURL(blob), type: blob.type, size: blob.size, filename };
}

/** EventSource cannot send headers: the token goes in the query string for the events stream. */
export function eventsUrl(path) {
  const value = token.get();
  if (!value) return path;
  const separator = path.includes("?") ? "&" : "?";
  return `${path}${separator}token=${encodeURIComponent(value)}`;
}

/**
 * Fetch a file with the token and hand it to the browser as a download (a plain link cannot
 * send headers), named as the server says or else `fallback`. Resolves to the file (object URL,
 * size, filename), for a "save again" link the page may keep.
 */
export async function download(path, fallback, accept = "*/*") {
  const file = await blobOf(path, accept);
  file.filename = file.filename || fallback;
  const link = document.createElement("a");
  link.href = file.url;
  link.download = file.filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  return file;
}
