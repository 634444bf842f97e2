// Building the page's elements: h("div", {class: "x", onclick: f}, child, ...).

export function h(tag, attributes = {}, ...children) {
  const svg = ["svg", "g", "rect", "circle", "path", "text", "title", "marker", "defs"].includes(tag);
  const element = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Replace what an element holds.
export function fill(element, ...children) {
  element.replaceChildren();
  for (const child of children.flat()) if (child) element.append(child);
}

// A party of a call, whichever form the server speaks (8.5.2: a number; 8.5.0: an object).
export function party(participant) {
  if (typeof participant === "string") return participant;
  return participant.phoneNumber || participant.formattedPhoneNumber || JSON.stringify(participant);
}

// The last part of a URI (a device's id in its deviceUri).
export function lastPart(uri) {
  return String(uri || "").replace(/\/+$/, "").split("/").pop();
}
