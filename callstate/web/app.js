// The page: log in, then the softphone (a user with a device), the board (admin, supervisor)
// and the call state diagram, kept current by CometD notifications.

import { Session } from "./api.js";
import { Bayeux } from "./bayeux.js";
import { Board } from "./board.js";
import { Diagram } from "./diagram.js";
import { lastPart } from "./dom.js";
import { Softphone } from "./softphone.js";

// How long a released leg stays in view (greyed) before it goes.
const RELEASED_MS = 5000;
const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.session = new Session();
    this.calls = new Map();
    this.devices = new Map();
    this.selected = null;
    this.pinned = false; // the user chose the leg the diagram shows
    this.parameters = {};
    this.softphone = new Softphone(this);
    this.board = new Board(this);
    this.bayeux = null;
    this.diagram = null;
    this.refreshing = null;
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      this.login(form.get("username"), form.get("password"));
    });
    $("logout").addEventListener("click", () => this.logout());
  }

  get roles() {
    return (this.session.user && this.session.user.roles) || [];
  }

  get supervisor() {
    return this.roles.includes("ROLE_SUPERVISOR");
  }

  get watches() {
    return this.supervisor || this.roles.includes("ROLE_ADMIN");
  }

  // The API's address, as the server writes it (in the user's own URI).
  apiBase() {
    const uri = this.session.user.uri || "";
    return uri.slice(0, uri.indexOf("/users/"));
  }

  ownDevice() {
    const uri = this.session.user && this.session.user.deviceUri;
    return uri ? this.devices.get(lastPart(uri)) || null : null;
  }

  status(text, kind = "info") {
    $("status").textContent = text;
    $("status").dataset.kind = text ? kind : "";
  }

  fail(message) {
    this.status(message, "error");
  }

  // Run a request; a refusal shows the server's statusMessage.
  async act(request) {
    try {
      await request();
      this.status("");
    } catch (error) {
      this.fail(error.message);
    }
  }

  select(callId) {
    this.selected = callId;
    this.pinned = true;
    this.render();
  }

  async login(username, password) {
    try {
      await this.session.login(username, password);
    } catch (error) {
      return this.fail(`login refused: ${error.message}`);
    }
    this.status("");
    const role = this.roles.map((r) => r.replace("ROLE_", "").toLowerCase()).join(", ");
    $("who").textContent = `${this.session.user.userName} (${role})`;
    document.body.dataset.role = role;
    $("login").hidden = true;
    $("logout").hidden = false;
    $("work").hidden = false;
    this.parameters = await (await fetch("/web/parameters.json")).json();
    this.diagram = await Diagram.load($("diagram"));
    $("softphone").hidden = !this.session.user.deviceUri;
    $("board").hidden = !this.watches;
    $("supervise").hidden = !this.supervisor;
    if (this.session.user.deviceUri) {
      await this.act(async () => this.softphone.showAgentStates((await this.session.get("/settings/agent-states")).settings));
    }
    await this.act(() => this.refresh());
    this.bayeux = new Bayeux("/api/v2/notifications", {
      onMessage: (channel, data) => this.notified(channel, data),
      onHandshake: () => this.act(() => this.refresh()),
      onStatus: (text) => {
        $("link").textContent = text;
        $("link").dataset.link = text;
      },
    });
    this.bayeux.start(["/v2/me/calls", "/v2/me/devices"]);
  }

  async logout() {
    if (this.bayeux) await this.bayeux.stop();
    await this.act(() => this.session.logout());
    location.reload();
  }

  // The state as the server has it now (after a (re)handshake: notifications may have gone by).
  async refresh() {
    const [calls, devices] = await Promise.all([this.session.get("/me/calls"), this.session.get(this.devicesPath())]);
    this.calls = new Map(calls.calls.map((c) => [c.id, c]));
    for (const device of devices.devices) this.devices.set(device.id, device);
    this.render();
  }

  // The devices the user may read: an admin every one (GET /devices?fields=*, the GWS Devices
  // API), anyone else their own (GET /me/devices).
  devicesPath() {
    return this.roles.includes("ROLE_ADMIN") ? "/devices?fields=*" : "/me/devices";
  }

  notified(channel, data) {
    if (data.call) this.#call(data.call);
    for (const device of data.devices || []) this.devices.set(device.id, device);
    // the board shows devices the user may read, whose messages may not come to this user
    if (this.watches && data.call && !this.refreshing) {
      this.refreshing = setTimeout(async () => {
        this.refreshing = null;
        const devices = await this.session.get(this.devicesPath()).catch(() => ({ devices: [] }));
        for (const device of devices.devices) this.devices.set(device.id, device);
        this.render();
      }, 300);
    }
    this.render();
  }

  #call(call) {
    this.calls.set(call.id, call);
    if (!this.pinned || !this.calls.has(this.selected)) {
      this.selected = call.id;
      this.pinned = false;
    }
    if (call.state === "Released") {
      setTimeout(() => {
        if (this.calls.get(call.id) === call) this.calls.delete(call.id);
        this.render();
      }, RELEASED_MS);
    }
  }

  render() {
    const calls = [...this.calls.values()];
    if (!this.session.user) return;
    if (this.session.user.deviceUri) {
      this.softphone.showDevice(this.ownDevice());
      this.softphone.showCalls(calls);
    }
    if (this.watches) this.board.show([...this.devices.values()], calls);
    const call = this.calls.get(this.selected);
    if (this.diagram) {
      this.diagram.show(call ? call.state : null, call ? `Leg …${call.id.slice(-8)}: ${call.state}` : "No leg selected.");
    }
  }
}

window.callstate = new App();
