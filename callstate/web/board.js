// The live board (admin, supervisor): every device and call the user may see, with states and
// capabilities; a supervisor's buttons to listen in, coach or barge in.

import { h, fill, party, lastPart } from "./dom.js";

const SUPERVISION = ["ListenIn", "Coach", "BargeIn"];

export class Board {
  constructor(app) {
    this.app = app;
  }

  // The devices to show: those the user may read (App.devicesPath), and any other a call was
  // seen on.
  #devices(devices, calls) {
    const shown = new Map(devices.map((d) => [d.id, { device: d, uri: null, calls: [] }]));
    for (const call of calls) {
      const id = lastPart(call.deviceUri);
      if (!shown.has(id)) shown.set(id, { device: { id }, uri: null, calls: [] });
      const row = shown.get(id);
      row.uri = call.deviceUri;
      row.calls.push(call);
    }
    return shown;
  }

  // A device's URI: as a call gave it, else made from the API's address.
  #uri(row) {
    return row.uri || `${this.app.apiBase()}/devices/${row.device.id}`;
  }

  // A supervisor's own device asks to supervise another (scope: Call or Agent).
  #supervise(name, targetDeviceUri, scope) {
    const own = this.app.ownDevice();
    if (!own) return this.app.fail("no device of yours is known yet");
    const body = { operationName: name, targetDeviceUri, supervisorMonitoringScope: scope,
      supervisorMonitoringMode: document.getElementById("mode").value };
    return this.app.act(() => this.app.session.post(`/me/devices/${own.id}`, body));
  }

  #buttons(targetUri, scope) {
    const own = this.app.ownDevice();
    if (!this.app.supervisor || !own || lastPart(targetUri) === own.id) return null;
    return SUPERVISION.map((name) => h("button", { type: "button", "data-supervise": name,
      onclick: (event) => {
        event.stopPropagation();
        this.#supervise(name, targetUri, scope || document.getElementById("scope").value);
      } }, name));
  }

  show(devices, calls) {
    const rows = this.#devices(devices, calls);
    fill(document.querySelector("#board-devices tbody"), [...rows.values()].map((row) => {
      const d = row.device;
      const user = d.userState || {};
      return h("tr", { "data-device-id": d.id, "data-dn": d.phoneNumber || "" },
        h("td", {}, d.phoneNumber || `device ${d.id.slice(0, 8)}…`),
        h("td", {}, user.state ? `${user.state}${user.workMode ? ` (${user.workMode})` : ""}` : "—"),
        h("td", {}, d.doNotDisturb || "—"),
        h("td", { class: "caps" }, (d.capabilities || []).join(" ") || "—"),
        h("td", {}, row.calls.map((c) => h("span", { class: "badge state", "data-call-id": c.id }, c.state))),
        h("td", {}, this.#buttons(this.#uri(row))));
    }));
    fill(document.querySelector("#board-calls tbody"), calls.map((call) => {
      const device = rows.get(lastPart(call.deviceUri)).device;
      return h("tr", { "data-call-id": call.id, "data-state": call.state,
        class: this.app.selected === call.id ? "selected" : "", onclick: () => this.app.select(call.id) },
        h("td", { class: "id" }, call.id.slice(-8)),
        h("td", {}, device.phoneNumber || device.id.slice(0, 8)),
        h("td", {}, h("span", { class: "badge state" }, call.state)),
        h("td", {}, (call.participants || []).map(party).join(", ")),
        h("td", { class: "caps" }, (call.capabilities || []).join(" "), " ",
          call.state === "Established" ? this.#buttons(call.deviceUri, "Call") : null));
    }));
  }
}
