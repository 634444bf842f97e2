// Drive a callstate server with the official CometD JavaScript client (npm "cometd", adapted to
// node by "cometd-nodejs-client") and check what reaches each CometD client.
//
//   node cometd_flow.mjs BASE_URL [CYCLES]
//
// BASE_URL is the server root (http://127.0.0.1:PORT); CYCLES defaults to 50. The server must be
// started with the users of tests/serving.py (agent1 on 15000, agent2 on 15001, agent3 on
// 15002, password s3cret) and nobody else may use it meanwhile: the script checks that no call and
// no CometD session is left at the end.
//
// Node resolves the bare imports below from the folder holding this file, so run a copy of it
// placed next to the node_modules folder (ESM ignores NODE_PATH).
//
// Prints one line of JSON on stdout; exits 1 with the failed checks on stderr if any check fails.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { CometD } from "cometd";
import { adapt } from "cometd-nodejs-client";

adapt();

const BASE = (process.argv[2] || "").replace(/\/+$/, "");
const CYCLES = Number(process.argv[3] || 50);
if (!/^https?:\/\//.test(BASE) || !Number.isInteger(CYCLES) || CYCLES < 1) {
    console.error("usage: node cometd_flow.mjs BASE_URL [CYCLES]");
    process.exit(2);
}
const PASSWORD = "s3cret";
const TOPIC = "/v2/me/calls";
const NOTIFICATIONS = `${BASE}/api/v2/notifications`;
// What /v2/me/calls delivers for each leg of one cycle (agent1 dials agent2, agent2 answers,
// agent1 hangs up), in order: observed from the server and fixed here, so that any extra,
// missing, repeated or reordered message fails.
const EXPECTED = {
    agent1: [
        ["StatusChange", "Dialing"],
        ["StatusChange", "Established"],
        ["StatusChange", "Released"],
    ],
    agent2: [
        ["StatusChange", "Ringing"],
        ["StatusChange", "Established"],
        ["StatusChange", "Released"],
    ],
};
const WAIT_MS = 10_000; // for one expected message
const SETTLE_MS = 1_000; // after the last expected message, for any unexpected one
const DEADLINE_MS = 100_000; // the whole run

const failures = [];
function check(condition, message) {
    if (!condition) failures.push(message);
    return condition;
}

class FlowError extends Error {}

function basic(username) {
    return "Basic " + Buffer.from(`${username}:${PASSWORD}`).toString("base64");
}

function version(name) {
    const main = fileURLToPath(import.meta.resolve(name));
    const folder = main.slice(0, main.lastIndexOf("/"));
    return JSON.parse(readFileSync(`${folder}/package.json`, "utf8")).version;
}

async function rest(username, method, path, body) {
    const response = await fetch(`${BASE}${path}`, {
        method,
        headers: { Authorization: basic(username), "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(WAIT_MS),
    });
    const text = await response.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        throw new FlowError(`${method} ${path} as ${username}: not JSON (${response.status}): ${text}`);
    }
    if (response.status !== 200 || json.statusCode !== 0) {
        throw new FlowError(
            `${method} ${path} as ${username} ${JSON.stringify(body ?? null)}: ` +
                `HTTP ${response.status} ${text}`,
        );
    }
    return json;
}

/** One user's CometD client and every message it received on /v2/me/calls. */
class Client {
    constructor(username) {
        this.username = username;
        this.messages = [];
        this.handshakes = 0;
        this.unsuccessful = [];
        this.waiters = new Set();
        this.cometd = new CometD(username);
        // The contract is long-polling (gws-server.md §5); without this the client first tries
        // a websocket, which the server refuses, then falls back to long-polling.
        this.cometd.unregisterTransport("websocket");
        this.cometd.configure({
            url: NOTIFICATIONS,
            logLevel: "warn",
            requestHeaders: { Authorization: basic(username) },
        });
        this.cometd.addListener("/meta/handshake", (m) => {
            if (m.successful) this.handshakes += 1;
        });
        this.cometd.addListener("/meta/unsuccessful", (m) => {
            this.unsuccessful.push(m);
        });
    }

    async start() {
        const me = await rest(this.username, "GET", "/api/v2/me");
        const devices = await rest(this.username, "GET", "/api/v2/me/devices");
        this.deviceUri = me.user.deviceUri;
        this.dn = devices.devices[0].phoneNumber;
        const handshake = await new Promise((resolve) => this.cometd.handshake(resolve));
        if (!handshake.successful) {
            throw new FlowError(`${this.username}: handshake failed: ${JSON.stringify(handshake)}`);
        }
        const subscribed = await new Promise((resolve) => {
            this.cometd.subscribe(TOPIC, (m) => this.#receive(m), resolve);
        });
        if (!subscribed.successful) {
            throw new FlowError(`${this.username}: subscribe failed: ${JSON.stringify(subscribed)}`);
        }
        this.clientId = this.cometd.getClientId();
    }

    #receive(message) {
        this.messages.push(message);
        for (const waiter of this.waiters) {
            if (waiter.predicate(message)) {
                this.waiters.delete(waiter);
                clearTimeout(waiter.timer);
                waiter.resolve(message);
            }
        }
    }

    /** The first message received (or to come) that ``predicate`` accepts. */
    waitFor(predicate, what) {
        const found = this.messages.find(predicate);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
            const waiter = { predicate, resolve };
            waiter.timer = setTimeout(() => {
                this.waiters.delete(waiter);
                reject(new FlowError(`${this.username}: no ${what} within ${WAIT_MS} ms`));
            }, WAIT_MS);
            this.waiters.add(waiter);
        });
    }

    async waitForCount(count) {
        const start = Date.now();
        while (this.messages.length < count && Date.now() - start < WAIT_MS) {
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
    }

    disconnect() {
        return new Promise((resolve) => this.cometd.disconnect(resolve));
    }
}

/** A leg's message of ``state`` whose call id is not in ``used``. */
function fresh(state, used) {
    return (m) => m.data?.call?.state === state && !used.has(m.data.call.id);
}

/** A raw Bayeux /meta/connect with ``clientId`` and ``username``'s credentials. */
async function hijack(clientId, username) {
    const response = await fetch(`${NOTIFICATIONS}/connect`, {
        method: "POST",
        headers: { Authorization: basic(username), "Content-Type": "application/json" },
        body: JSON.stringify([
            { channel: "/meta/connect", clientId, connectionType: "long-polling", id: "hijack" },
        ]),
        signal: AbortSignal.timeout(WAIT_MS),
    });
    const text = await response.text();
    let replies = null;
    try {
        replies = JSON.parse(text);
    } catch {
        // reported below
    }
    const connect = Array.isArray(replies)
        ? replies.find((m) => m.channel === "/meta/connect")
        : undefined;
    const ok =
        check(response.status === 200, `hijack: HTTP ${response.status} (expected 200): ${text}`) &&
        check(connect !== undefined, `hijack: no /meta/connect reply: ${text}`) &&
        check(connect.successful === false, `hijack: connect succeeded: ${text}`) &&
        check(
            typeof connect.error === "string" && connect.error.startsWith("402::"),
            `hijack: error is not 402::...: ${text}`,
        ) &&
        check(
            replies.every((m) => String(m.channel).startsWith("/meta/")),
            `hijack: messages delivered to the hijacker: ${text}`,
        );
    return ok ? connect.error : null;
}

/** Anonymous CometD handshake: must be refused with HTTP 401 like REST. */
async function anonymous() {
    const response = await fetch(`${NOTIFICATIONS}/handshake`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify([
            { channel: "/meta/handshake", version: "1.0", supportedConnectionTypes: ["long-polling"] },
        ]),
        signal: AbortSignal.timeout(WAIT_MS),
    });
    await response.text();
    check(response.status === 401, `anonymous handshake: HTTP ${response.status} (expected 401)`);
}

/** Every message of ``client``: the expected sequence per cycle, for its own device only. */
function checkDelivery(client, callIds) {
    const expected = EXPECTED[client.username];
    const name = client.username;
    const messages = client.messages;
    check(
        messages.length === CYCLES * expected.length,
        `${name}: ${messages.length} messages (expected ${CYCLES * expected.length})`,
    );
    for (const [index, m] of messages.entries()) {
        const data = m.data ?? {};
        const where = `${name} message ${index} (call ${data.call?.id}, ${data.call?.state})`;
        check(m.channel === TOPIC, `${where}: channel ${m.channel}`);
        check(data.messageType === "CallStateChangeMessage", `${where}: ${data.messageType}`);
        check(data.phoneNumber === client.dn, `${where}: phoneNumber ${data.phoneNumber} is not ${client.dn}`);
        check(
            data.call?.deviceUri === client.deviceUri,
            `${where}: deviceUri ${data.call?.deviceUri} is not ${client.deviceUri}`,
        );
    }
    // Switch order: cycle k's messages all come before cycle k+1's (its hangup was answered
    // before the next dial), so the whole stream is the cycles' sequences one after the other.
    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
        const id = callIds[cycle];
        const got = messages
            .slice(cycle * expected.length, (cycle + 1) * expected.length)
            .map((m) => [m.data?.call?.id, m.data?.notificationType, m.data?.call?.state]);
        const want = expected.map(([type, state]) => [id, type, state]);
        if (!check(
            JSON.stringify(got) === JSON.stringify(want),
            `${name} cycle ${cycle}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
        )) {
            break; // one report is enough: later cycles are shifted too
        }
    }
}

async function main() {
    const started = Date.now();
    const [agent1, agent2, agent3] = ["agent1", "agent2", "agent3"].map((u) => new Client(u));
    const clients = [agent1, agent2, agent3];
    for (const client of clients) await client.start();
    check(agent1.dn === "15000" && agent2.dn === "15001" && agent3.dn === "15002",
        `unexpected DNs: ${agent1.dn}, ${agent2.dn}, ${agent3.dn}`);
    const health = await (await fetch(`${BASE}/simulator/health`)).json();
    check(health.clients === 3, `health after handshakes: ${JSON.stringify(health)}`);

    await anonymous();
    const hijackError = await hijack(agent1.clientId, "agent3");

    const legs = { agent1: [], agent2: [] };
    const used = { agent1: new Set(), agent2: new Set() };
    const cyclesStarted = Date.now();
    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
        await rest("agent1", "POST", `/api/v2/me/devices/${agent1.dn}/calls`, {
            operationName: "Dial",
            destination: { phoneNumber: agent2.dn },
        });
        const [dialing, ringing] = await Promise.all([
            agent1.waitFor(fresh("Dialing", used.agent1), `Dialing leg in cycle ${cycle}`),
            agent2.waitFor(fresh("Ringing", used.agent2), `Ringing leg in cycle ${cycle}`),
        ]);
        for (const [name, leg] of [["agent1", dialing], ["agent2", ringing]]) {
            used[name].add(leg.data.call.id);
            legs[name].push(leg.data.call.id);
        }
        check(
            dialing.data.call.connId === ringing.data.call.connId,
            `cycle ${cycle}: Dialing connId ${dialing.data.call.connId} != Ringing connId ` +
                `${ringing.data.call.connId}`,
        );
        await rest("agent2", "POST", `/api/v2/me/calls/${ringing.data.call.id}`, {
            operationName: "Answer",
        });
        await rest("agent1", "POST", `/api/v2/me/calls/${dialing.data.call.id}`, {
            operationName: "Hangup",
        });
    }
    const cyclesMs = Date.now() - cyclesStarted;

    await Promise.all([agent1, agent2].map((c) => c.waitForCount(CYCLES * 3)));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

    checkDelivery(agent1, legs.agent1);
    checkDelivery(agent2, legs.agent2);
    const shared = legs.agent1.filter((id) => used.agent2.has(id));
    check(shared.length === 0, `legs seen by both agent1 and agent2: ${shared}`);
    check(
        agent3.messages.length === 0,
        `agent3 received ${agent3.messages.length} messages: ` +
            JSON.stringify(agent3.messages[0]),
    );
    for (const name of ["agent1", "agent2"]) {
        const { calls } = await rest(name, "GET", "/api/v2/me/calls");
        check(calls.length === 0, `${name}: ${calls.length} calls left: ${JSON.stringify(calls)}`);
    }

    const transport = agent1.cometd.getTransport()?.type ?? null;
    check(transport === "long-polling", `agent1 transport: ${transport}`);
    for (const client of clients) {
        const reply = await client.disconnect();
        check(reply.successful === true, `${client.username}: disconnect: ${JSON.stringify(reply)}`);
        check(client.handshakes === 1, `${client.username}: ${client.handshakes} handshakes`);
        check(
            client.unsuccessful.length === 0,
            `${client.username}: unsuccessful meta messages: ${JSON.stringify(client.unsuccessful)}`,
        );
    }
    const after = await (await fetch(`${BASE}/simulator/health`)).json();
    check(after.clients === 0 && after.calls === 0, `health after disconnect: ${JSON.stringify(after)}`);

    return {
        ok: failures.length === 0,
        cycles: CYCLES,
        messages: Object.fromEntries(clients.map((c) => [c.username, c.messages.length])),
        transport,
        hijack: hijackError,
        cyclesMs,
        totalMs: Date.now() - started,
        cometd: version("cometd"),
        cometdNodejsClient: version("cometd-nodejs-client"),
        node: process.version,
    };
}

const deadline = setTimeout(() => {
    console.log(JSON.stringify({ ok: false, error: `no result within ${DEADLINE_MS} ms` }));
    console.error(`cometd_flow: FAILED: no result within ${DEADLINE_MS} ms`);
    process.exit(1);
}, DEADLINE_MS);

let summary;
try {
    summary = await main();
} catch (error) {
    const why = error instanceof FlowError ? error.message : error.stack || String(error);
    failures.unshift(why);
    summary = { ok: false };
}
clearTimeout(deadline);
if (failures.length > 0) {
    summary.ok = false;
    summary.failures = failures.length;
    console.log(JSON.stringify(summary));
    console.error(`cometd_flow: FAILED (${failures.length} check(s)):`);
    for (const failure of failures.slice(0, 20)) console.error(`  - ${failure.slice(0, 2000)}`);
    process.exit(1);
}
console.log(JSON.stringify(summary));
process.exit(0);
