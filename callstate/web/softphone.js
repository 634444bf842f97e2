// The agent's softphone: the own device (agent state, do-not-disturb...), a dial box, and the
// user's calls, each with one button per capability the server lists.

import { h, fill, party } from "./dom.js";

// The body of an operation: its required parameter (from /web/parameters.json) taken from the
// text typed beside the buttons; an empty box sends none (the server says what is missing).
// Optional ones are left to the server's defaults (a consult's other leg, ...).
export function operation(name, text, parameters) {
  const body = { operationName: name };
  const known = parameters[name];
  const value = text.trim();
  if (!known || !value) return body;
  const wanted = known.required[0];
  if (wanted === "destination") body.destination = { phoneNumber: value };
  else if (wanted === "userData") body.userData = userData(value);
  else if (wanted) body[wanted] = value;
  return body;
}

// userData typed as a JSON object, or as "key=value, key=value" pairs.
function userData(text) {
  if (text.startsWith("{")) return JSON.parse(text);
  const pairs = text.split(",").map((pair) => pair.split("="));
  return Object.fromEntries(pairs.map(([k, ...v]) => [k.trim(), v.join("=").trim()]));
}

export class Softphone {
  constructor(app) {
    this.app = app;
    this.cards = new Map(); // call id -> its element (kept, so that what is typed stays)
    document.getElementById("dial").addEventListener("submit", (event) => {
      event.preventDefault();
      const destination = document.getElementById("destination").value.trim();
      const device = app.ownDevice();
      if (!device) return app.fail("no device of yours is known yet");
      app.act(() => app.session.post(`/me/devices/${device.id}/calls`,
        { operationName: "Dial", destination: { phoneNumber: destination } }));
    });
  }

  // The agent state buttons: the states the server lists (GET /settings/agent-states).
  showAgentStates(states) {
    fill(document.getElementById("agent-states"), states.map((state) =>
      h("button", { type: "button", "data-agent-state": state.operationName,
        onclick: () => this.app.act(() => this.app.session.post("/me/channels/voice", { operationName: state.operationName })) },
      state.displayName || state.operationName)));
  }

  showDevice(device) {
    const box = document.getElementById("device");
    if (!device) return fill(box, "No device.");
    const user = device.userState || {};
    const monitoring = device.supervisorMonitoringState;
    box.dataset.agentState = user.state || "";
    box.dataset.dnd = device.doNotDisturb || "";
    fill(box,
      h("strong", {}, device.phoneNumber), " ",
      h("span", { class: "badge agent-state" }, user.displayName || user.state || "?", user.workMode ? ` (${user.workMode})` : ""),
      " DND ", h("span", { class: "badge dnd" }, device.doNotDisturb || "?"),
      monitoring ? h("span", { class: "badge" }, ` monitoring ${monitoring.state || ""} ${monitoring.scope || ""}`) : null);
    const parameter = document.getElementById("device-parameter");
    fill(document.getElementById("device-operations"), (device.capabilities || []).map((name) =>
      h("button", { type: "button", "data-op": name,
        onclick: () => this.app.act(() => this.app.session.post(`/me/devices/${device.id}`,
          operation(name, parameter.value, this.app.parameters))) }, name)));
  }

  // Show ``calls`` (the user's legs, live and just released), in the order they came.
  showCalls(calls) {
    const list = document.getElementById("calls");
    for (const [id, card] of this.cards) {
      if (!calls.some((call) => call.id === id)) {
        card.remove();
        this.cards.delete(id);
      }
    }
    for (const call of calls) {
      let card = this.cards.get(call.id);
      if (!card) {
        card = this.#card(call);
        this.cards.set(call.id, card);
        list.append(card);
      }
      this.#update(card, call);
    }
    const empty = list.querySelector(".empty");
    if (empty) empty.hidden = calls.length > 0;
  }

  #card(call) {
    const input = h("input", { class: "parameter", placeholder: "destination / digits / key=value", size: 26 });
    return h("div", { class: "call", "data-call-id": call.id, onclick: () => this.app.select(call.id) },
      h("div", { class: "info" }), h("div", { class: "buttons" }), input);
  }

  #update(card, call) {
    card.dataset.state = call.state;
    card.classList.toggle("selected", this.app.selected === call.id);
    const data = Object.entries(call.userData || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    fill(card.querySelector(".info"),
      h("span", { class: "badge state" }, call.state), " ",
      h("span", { class: "participants" }, (call.participants || []).map(party).join(", ") || "—"),
      h("span", { class: "muted" }, ` ${call.callType || ""}${call.mute === "On" ? " muted" : ""}`),
      data ? h("span", { class: "muted" }, ` [${data}]`) : null);
    const input = card.querySelector(".parameter");
    fill(card.querySelector(".buttons"), (call.capabilities || []).map((name) =>
      h("button", { type: "button", "data-op": name, onclick: (event) => {
        event.stopPropagation();
        this.app.act(() => this.app.session.post(`/me/calls/${call.id}`, operation(name, input.value, this.app.parameters)));
      } }, name)));
  }
}
