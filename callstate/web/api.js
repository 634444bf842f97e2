// The Calls API as the page uses it: log in with HTTP Basic once, then the session cookie the
// server sets (and its CSRF token, when the server sends one) carries every request.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.statusMessage ? body.statusMessage : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function basic(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return "Basic " + btoa(String.fromCharCode(...bytes));
}

export class Session {
  constructor(base = "/api/v2") {
    this.base = base;
    this.user = null;
    this.csrf = null; // [header name, token] once the server sent them
  }

  // GET /me with the credentials: the answer sets the session cookie.
  async login(username, password) {
    const body = await this.request("GET", "/me", undefined, { Authorization: basic(username, password) });
    this.user = body.user;
    return this.user;
  }

  // Ends the agent's contact center session, and with it the HTTP session (its cookie).
  async logout() {
    try {
      await this.post("/me", { operationName: "EndContactCenterSession" });
    } finally {
      this.user = null;
      this.csrf = null;
    }
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  // One request; the JSON answer, or an ApiError with the server's statusMessage.
  async request(method, path, body, extra = {}) {
    // X-Requested-With: a refused login is answered without the challenge that would make the
    // browser show its own login dialog
    const headers = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest", ...extra };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.csrf && method !== "GET") headers[this.csrf[0]] = this.csrf[1];
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const token = response.headers.get("x-csrf-token");
    if (token) this.csrf = [response.headers.get("x-csrf-header") || "X-CSRF-TOKEN", token];
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok || !answer || (answer.statusCode !== undefined && answer.statusCode !== 0)) {
      throw new ApiError(response.status, answer);
    }
    return answer;
  }
}
