// A Bayeux 1.0 long-polling client (CometD), small and of our own: handshake, subscribe, a
// connect loop that follows the server's advice, disconnect. Messages go out and come back as
// batched arrays; the session cookie authenticates them.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Bayeux {
  // onMessage(channel, data) for each notification; onHandshake() after each (re)handshake,
  // once subscribed (the time to read the state again: messages may have been missed);
  // onStatus(text) says how the connection goes.
  constructor(url, { onMessage, onHandshake = async () => {}, onStatus = () => {} }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onHandshake = onHandshake;
    this.onStatus = onStatus;
    this.clientId = null;
    this.advice = { reconnect: "retry", interval: 0, timeout: 30000 };
    this.running = false;
    this.channels = [];
    this.nextId = 0;
    this.aborter = null;
  }

  start(channels) {
    this.channels = channels;
    this.running = true;
    this.loop = this.#loop();
    return this.loop;
  }

  // Says goodbye to the server (which answers the held connect), then stops the loop.
  async stop() {
    this.running = false;
    const clientId = this.clientId;
    this.clientId = null;
    if (clientId) {
      try {
        await this.#send([{ channel: "/meta/disconnect", clientId }], null);
      } catch {
        // the server may be gone already: nothing to undo
      }
    }
    if (this.aborter) this.aborter.abort();
    this.onStatus("disconnected");
  }

  async #send(messages, aborter) {
    for (const message of messages) message.id = String(++this.nextId);
    const response = await fetch(this.url, {
      method: "POST",
      // no WWW-Authenticate (the browser's own login dialog) if the session is gone
      headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
      body: JSON.stringify(messages),
      credentials: "same-origin",
      signal: aborter ? aborter.signal : undefined,
    });
    if (response.status === 401) {
      // the session ended (logged out elsewhere, or unused too long): no point trying again
      this.running = false;
      this.onStatus("session ended: log in again");
      return [];
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const replies = await response.json();
    const batch = Array.isArray(replies) ? replies : [replies];
    for (const message of batch) {
      if (message.advice) this.advice = { ...this.advice, ...message.advice };
      if (message.channel && !message.channel.startsWith("/meta/") && message.data !== undefined) {
        this.onMessage(message.channel, message.data);
      }
    }
    return batch;
  }

  async #handshake() {
    this.onStatus("handshaking");
    const [reply] = (
      await this.#send([
        {
          channel: "/meta/handshake",
          version: "1.0",
          minimumVersion: "1.0",
          supportedConnectionTypes: ["long-polling"],
        },
      ])
    ).filter((m) => m.channel === "/meta/handshake");
    if (!reply || !reply.successful) throw new Error(`handshake refused: ${reply && reply.error}`);
    this.clientId = reply.clientId;
    const subscriptions = this.channels.map((subscription) => ({
      channel: "/meta/subscribe",
      clientId: this.clientId,
      subscription,
    }));
    const answers = await this.#send(subscriptions);
    const refused = answers.find((m) => m.channel === "/meta/subscribe" && !m.successful);
    if (refused) throw new Error(`subscription refused: ${refused.error}`);
    this.onStatus("connected");
    await this.onHandshake();
  }

  async #connect() {
    this.aborter = new AbortController();
    const connect = { channel: "/meta/connect", clientId: this.clientId, connectionType: "long-polling" };
    const replies = await this.#send([connect], this.aborter);
    const reply = replies.find((m) => m.channel === "/meta/connect");
    if (reply && !reply.successful) {
      // the server forgot the client (or says so): handshake again unless told to stop
      if (this.advice.reconnect === "none") this.running = false;
      else this.clientId = null;
    }
  }

  async #loop() {
    let failures = 0;
    while (this.running) {
      try {
        if (!this.clientId) await this.#handshake();
        else await this.#connect();
        failures = 0;
        if (this.advice.reconnect === "handshake") {
          this.clientId = null;
          this.advice.reconnect = "retry";
        } else if (this.advice.reconnect === "none") {
          this.running = false;
        }
        if (this.running && this.advice.interval > 0) await sleep(this.advice.interval);
      } catch (error) {
        if (!this.running) break;
        failures += 1;
        this.onStatus(`connection lost (${error.message}); trying again`);
        // a connect that failed for the network leaves the client as it was; after a few
        // failures in a row the server has probably forgotten it: handshake again
        if (failures >= 3) this.clientId = null;
        await sleep(Math.min(10000, 500 * 2 ** Math.min(failures, 5)));
      }
    }
  }
}
