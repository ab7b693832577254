// Tiny DOM helpers: build elements without innerHTML, so API text is never parsed as markup.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && name !== "list" && name !== "role") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
  return node;
}

/** Show `message` in an error paragraph (hidden when empty). */
export function setError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

/** A probability as a percentage; never rounds to a false 0 % or 100 %. */
export function percent(p, digits = 1) {
  const floor = 10 ** -digits;
  if (p > 0 && 100 * p < floor) return `< ${floor.toFixed(digits)} %`;
  if (p < 1 && 100 * p > 100 - floor) return `> ${(100 - floor).toFixed(digits)} %`;
  return `${(100 * p).toFixed(digits)} %`;
}

let counter = 0;
export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

export function timeText(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  const ago = seconds < 90 ? `${seconds} s ago` : seconds < 5400
    ? `${Math.round(seconds / 60)} min ago` : `${Math.round(seconds / 3600)} h ago`;
  const today = date.toDateString() === new Date().toDateString();
  return `${today ? date.toLocaleTimeString() : date.toLocaleString()} (${ago})`;
}

/** A byte count in plain words (kB and MB are powers of 1000). */
export function sizeText(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
