// ConnectNow client library: an ES module on top of socket.io-client 4, for browsers and Node.js.
// It needs no build step: in a browser, load socket.io's UMD bundle first (it defines `io`) and import this file;
// in Node.js import the package (index.js passes socket.io-client's `io` in).
//
// What it does for you (docs/PROTOCOL.md, "Writing a client"):
// - sign-in, and token refresh before the access token expires and before every (re)connect;
// - promise-based calls that reject with a ConnectNowError carrying the server's code;
// - one Conversation per channel or direct conversation that follows the stream rule: it tracks the highest
//   contiguous eventSeq, and on a hole not filled within a short wait, or on a reconnect, it calls `sync` and pages
//   the REST cursor when sync could not recover, telling you (`reload`) when it had to;
// - typing and presence helpers.

const DEFAULT_ACK_TIMEOUT_MS = 15_000;
const DEFAULT_HOLE_WAIT_MS = 1_500;
const TYPING_REFRESH_MS = 2_000;
const SYNC_BATCH = 100;
const REFRESH_FLOOR_MS = 5_000;
const REFRESH_CEILING_MS = 60_000;
// Refusals after which a new access token may help (the socket reconnects once it has one).
const TOKEN_CODES = new Set(["AUTH_TOKEN_EXPIRED", "AUTH_INVALID_TOKEN"]);

/** An error answered by the server (or raised locally with a code such as `TIMEOUT` or `NETWORK`). */
export class ConnectNowError extends Error {
  /**
   * @param {string} code stable code from docs/ERRORS.md
   * @param {string} message human-readable text
   * @param {{retryable?: boolean, details?: object, status?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = "ConnectNowError";
    /** @type {string} */
    this.code = code;
    /** @type {boolean} */
    this.retryable = Boolean(extra.retryable);
    /** @type {object} */
    this.details = extra.details ?? {};
    /** @type {number|undefined} */
    this.status = extra.status;
  }

  /** Build from the `{code, message, retryable, details}` body the server sends. */
  static from(body, status) {
    const e = body && typeof body === "object" ? body : {};
    return new ConnectNowError(e.code ?? "UNKNOWN", e.message ?? String(body), { ...e, status });
  }
}

/** A tiny event emitter that works the same in browsers and Node.js. */
export class Emitter {
  #handlers = new Map();

  /** Listen; returns a function that stops listening. */
  on(event, fn) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, new Set());
    this.#handlers.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this.#handlers.get(event)?.delete(fn);
  }

  /** Resolve with the first event's payload that passes `predicate`. */
  once(event, predicate = () => true) {
    return new Promise((resolve) => {
      const stop = this.on(event, (...args) => {
        if (predicate(...args)) {
          stop();
          resolve(args[0]);
        }
      });
    });
  }

  emit(event, ...args) {
    for (const fn of [...(this.#handlers.get(event) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        // A listener's bug must not stop the stream for the others.
        console.error(`connectnow: a "${event}" listener threw`, err);
      }
    }
  }
}

/** A fresh, protocol-valid clientMsgId (`A-Za-z0-9_.:-`, at most 64). */
export function newClientMsgId(prefix = "c") {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `${prefix}-${random}`;
}

// Per kind: the event names and payload keys of channels and direct conversations.
const KINDS = {
  channel: {
    idKey: "channelId",
    history: "message:history",
    send: "message:send",
    edit: "message:edit",
    remove: "message:delete",
    markRead: "channel:markRead",
    live: ["message:new", "message:updated", "message:deleted", "message:pinned", "message:unpinned"],
  },
  dm: {
    idKey: "conversationId",
    history: "dm:history",
    send: "dm:send",
    edit: "dm:edit",
    remove: "dm:delete",
    markRead: "dm:markRead",
    live: ["dm:message", "dm:message:updated", "dm:message:deleted"],
  },
};
const REACTION_EVENTS = ["reaction:added", "reaction:removed"];

/**
 * The client: one per signed-in user. Events (`client.on(name, fn)`): `state` ("connecting" | "connected" |
 * "reconnecting" | "disconnected" | "failed"), `tokens` (after sign-in or refresh: store them if you like),
 * `signedout` (the session ended: sign in again), `error` (a refusal that retrying cannot fix), `synced`
 * (after the catch-up that follows every reconnect), and every server event by its protocol name.
 */
export class ConnectNowClient extends Emitter {
  /**
   * @param {object} options
   * @param {string} [options.url] server base URL; defaults to the page's origin in a browser
   * @param {Function} [options.io] socket.io-client's `io` (defaults to the global one)
   * @param {object} [options.tokens] a TokenPair from an earlier sign-in
   * @param {number} [options.ackTimeoutMs]
   * @param {number} [options.holeWaitMs] how long a hole in eventSeq may stay open before a sync
   * @param {object} [options.socketOptions] extra socket.io-client options
   */
  constructor(options = {}) {
    super();
    this.url = (options.url ?? globalThis.location?.origin ?? "").replace(/\/$/, "");
    this.io = options.io ?? globalThis.io;
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.holeWaitMs = options.holeWaitMs ?? DEFAULT_HOLE_WAIT_MS;
    this.socketOptions = options.socketOptions ?? {};
    /** @type {null | {accessToken: string, refreshToken: string, expiresAt: string, refreshExpiresAt: string, user: object}} */
    this.tokens = options.tokens ?? null;
    this.socket = null;
    this.state = "disconnected";
    /** @type {Map<string, Conversation>} */
    this.conversations = new Map();
    /** @type {Map<string, object>} userId -> Presence */
    this.presence = new Map();
    this.typing = new TypingHelper(this);
    this.#refreshing = null;
    this.#refreshTimer = null;
    this.#everConnected = false;
    if (this.tokens) this.#scheduleRefresh();
  }

  #refreshing;
  #refreshTimer;
  #everConnected;

  /** The signed-in user, or null. */
  get user() {
    return this.tokens?.user ?? null;
  }

  // ---- REST and auth --------------------------------------------------------------------------------

  /**
   * Call the REST API (`path` under /api/v1 unless it starts with /api/). Rejects with ConnectNowError.
   * @returns {Promise<any>} the JSON body (null for 204)
   */
  async rest(method, path, body, { auth = true } = {}) {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (auth) headers.authorization = `Bearer ${await this.accessToken()}`;
    let response;
    try {
      response = await fetch(this.#apiUrl(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ConnectNowError("NETWORK", `cannot reach the server: ${err.message}`, { retryable: true });
    }
    if (response.status === 204) return null;
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) throw ConnectNowError.from(json?.error ?? { code: `HTTP_${response.status}`, message: text }, response.status);
    return json;
  }

  #apiUrl(path) {
    return `${this.url}${path.startsWith("/api/") ? path : `/api/v1${path}`}`;
  }

  /** Create an account and sign in. */
  async register({ email, username, displayName, password }) {
    return this.#adopt(
      await this.rest("POST", "/auth/register", { email, username, displayName: displayName || username, password }, { auth: false }),
    );
  }

  /** Sign in with a username or e-mail address. */
  async login(login, password) {
    return this.#adopt(await this.rest("POST", "/auth/login", { login, password }, { auth: false }));
  }

  /** End the session on the server and locally. */
  async logout() {
    try {
      if (this.tokens) await this.rest("POST", "/auth/logout");
    } finally {
      this.#signedOut("logout");
    }
  }

  #adopt(tokens) {
    this.tokens = tokens;
    this.#scheduleRefresh();
    this.emit("tokens", tokens);
    return tokens;
  }

  #signedOut(reason) {
    clearTimeout(this.#refreshTimer);
    this.tokens = null;
    this.disconnect();
    this.emit("signedout", reason);
  }

  // How long before expiry to refresh: a fifth of the token's life, between 5 s and 60 s.
  #refreshMarginMs() {
    const life = Date.parse(this.tokens.expiresAt) - (this.tokens.issuedAtMs ?? Date.now());
    return Math.min(REFRESH_CEILING_MS, Math.max(REFRESH_FLOOR_MS, life / 5));
  }

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.tokens) return;
    this.tokens.issuedAtMs ??= Date.now();
    const due = Date.parse(this.tokens.expiresAt) - this.#refreshMarginMs() - Date.now();
    this.#refreshTimer = setTimeout(() => this.refresh().catch(() => {}), Math.max(0, due));
    this.#refreshTimer.unref?.(); // never keep a Node.js process alive just for this
  }

  /** True when the access token expires within the refresh margin. */
  tokenIsStale() {
    return !this.tokens || Date.parse(this.tokens.expiresAt) - Date.now() < this.#refreshMarginMs();
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken() {
    if (!this.tokens) throw new ConnectNowError("AUTH_REQUIRED", "not signed in");
    if (this.tokenIsStale()) await this.refresh();
    return this.tokens.accessToken;
  }

  /** Rotate the tokens now (one refresh at a time; a refused refresh signs out). */
  refresh() {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #doRefresh() {
    if (!this.tokens) throw new ConnectNowError("AUTH_REQUIRED", "not signed in");
    try {
      const tokens = await this.rest("POST", "/auth/refresh", { refreshToken: this.tokens.refreshToken }, { auth: false });
      return this.#adopt(tokens);
    } catch (err) {
      if (err.code === "NETWORK" || err.retryable) {
        // Server unreachable: try again a little later; reconnecting will also ask for a fresh token.
        clearTimeout(this.#refreshTimer);
        this.#refreshTimer = setTimeout(() => this.refresh().catch(() => {}), REFRESH_FLOOR_MS);
        this.#refreshTimer.unref?.();
      } else {
        this.#signedOut(err.code);
      }
      throw err;
    }
  }

  // ---- Socket ---------------------------------------------------------------------------------------

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  /** Open the socket (resolves once connected; rejects with the refusal's ConnectNowError). */
  connect() {
    if (!this.io) throw new Error("socket.io-client's io is missing: pass options.io or load socket.io.min.js");
    if (this.socket) return this.socket.connected ? Promise.resolve() : this.once("state", (s) => s === "connected");
    this.#setState("connecting");
    const socket = this.io(this.url, {
      transports: ["websocket"],
      ...this.socketOptions,
      // Asked again before every (re)connect, so a reconnect never presents an expired token.
      auth: (cb) => {
        this.accessToken().then(
          (token) => cb({ token }),
          () => cb({ token: this.tokens?.accessToken ?? "" }),
        );
      },
    });
    this.socket = socket;
    socket.on("connect", () => this.#onConnect());
    socket.on("disconnect", (reason) => {
      this.#setState(reason === "io client disconnect" ? "disconnected" : "reconnecting");
      // A server-side disconnect is not retried by socket.io itself.
      if (reason === "io server disconnect") setTimeout(() => this.socket === socket && socket.connect(), 1000);
    });
    socket.on("connect_error", (err) => this.#onConnectError(socket, err));
    socket.onAny((event, data) => this.#dispatch(event, data));
    return new Promise((resolve, reject) => {
      const stop = this.on("state", (state) => {
        if (state === "connected") {
          stop();
          resolve();
        } else if (state === "failed") {
          stop();
          reject(this.lastError);
        }
      });
    });
  }

  /** Close the socket; conversations keep their position and catch up on the next connect. */
  disconnect() {
    const socket = this.socket;
    this.socket = null;
    socket?.disconnect();
    this.#setState("disconnected");
  }

  async #onConnect() {
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    this.#setState("connected");
    // Stream rule: after every reconnect, catch up from the last contiguous eventSeq of each conversation.
    if (reconnect || this.conversations.size) {
      try {
        await this.syncAll();
      } finally {
        this.emit("synced", { reconnect });
      }
    }
    for (const conversation of this.conversations.values()) conversation._resendWaiting();
  }

  // A refusal carries the code as err.message and {code, message, retryable} as err.data; a transport error has no data.
  async #onConnectError(socket, err) {
    if (!err.data) {
      this.#setState(this.#everConnected ? "reconnecting" : "connecting");
      return; // socket.io retries transport errors by itself
    }
    const error = ConnectNowError.from({ ...err.data, code: err.data.code ?? err.message });
    this.lastError = error;
    if (TOKEN_CODES.has(error.code) && this.tokens && !this.#tokenRetry) {
      this.#tokenRetry = true;
      try {
        await this.refresh();
        if (this.socket === socket) socket.connect();
        return;
      } catch {
        /* fall through: signed out */
      } finally {
        this.#tokenRetry = false;
      }
    }
    if (error.retryable) {
      setTimeout(() => this.socket === socket && socket.connect(), 2000);
      return;
    }
    this.#setState("failed");
    this.emit("error", error);
  }

  #tokenRetry = false;

  /**
   * Emit a client-to-server event and resolve with its ack's `data`; rejects with ConnectNowError.
   * Calls made while reconnecting wait for the connection (socket.io buffers them) up to the ack timeout.
   */
  async call(event, payload) {
    if (!this.socket) throw new ConnectNowError("NOT_CONNECTED", "call connect() first");
    let answer;
    try {
      answer = await this.socket.timeout(this.ackTimeoutMs).emitWithAck(event, payload);
    } catch {
      throw new ConnectNowError("TIMEOUT", `${event}: no answer within ${this.ackTimeoutMs} ms`, { retryable: true });
    }
    if (answer?.ok) return answer.data;
    throw ConnectNowError.from(answer?.error ?? { code: "UNKNOWN", message: "malformed ack" });
  }

  #dispatch(event, data) {
    if (event === "presence:changed" && data?.userId) this.presence.set(data.userId, data);
    if (data && typeof data === "object") {
      const target = data.channelId
        ? this.conversations.get(`channel:${data.channelId}`)
        : data.conversationId
          ? this.conversations.get(`dm:${data.conversationId}`)
          : null;
      target?._onEvent(event, data);
    }
    this.emit(event, data);
  }

  // ---- Conversations ----------------------------------------------------------------------------------

  /** The Conversation object for a channel (`kind` "channel") or direct conversation (`kind` "dm"). */
  conversation(kind, id) {
    if (!KINDS[kind]) throw new Error(`unknown conversation kind ${kind}`);
    const key = `${kind}:${id}`;
    if (!this.conversations.has(key)) this.conversations.set(key, new Conversation(this, kind, id));
    return this.conversations.get(key);
  }

  channel(channelId) {
    return this.conversation("channel", channelId);
  }

  dm(conversationId) {
    return this.conversation("dm", conversationId);
  }

  /** Stop following a conversation (its events are no longer tracked or synced). */
  forget(kind, id) {
    this.conversations.get(`${kind}:${id}`)?._close();
    this.conversations.delete(`${kind}:${id}`);
  }

  /** Sync every followed conversation from its last contiguous eventSeq (done by itself after reconnects). */
  async syncAll() {
    const tracked = [...this.conversations.values()].filter((c) => c.lastEventSeq !== null);
    for (let i = 0; i < tracked.length; i += SYNC_BATCH) await syncConversations(this, tracked.slice(i, i + SYNC_BATCH));
  }

  // ---- Presence and uploads ---------------------------------------------------------------------------

  /** Ask the presence of some users (the answer also fills `client.presence`). */
  async queryPresence(userIds) {
    const ids = [...new Set(userIds)].slice(0, 200);
    if (!ids.length) return [];
    const list = await this.call("presence:query", { userIds: ids });
    for (const p of list) this.presence.set(p.userId, p);
    return list;
  }

  /** Set your own status: "ONLINE" | "AWAY" | "BUSY". */
  setPresence(status, statusText) {
    return this.call("presence:set", statusText ? { status, statusText } : { status });
  }

  /**
   * Upload a file (browser File/Blob, or in Node a Blob) and resolve with the Attachment; attach it with
   * `send(content, {attachmentIds: [id]})`. `onProgress(fraction)` is called while uploading (browsers).
   */
  async upload(file, { onProgress, fileName } = {}) {
    const token = await this.accessToken();
    const form = new FormData();
    form.append("file", file, fileName ?? file.name ?? "file");
    const url = this.#apiUrl("/attachments");
    if (typeof XMLHttpRequest === "undefined") {
      const response = await fetch(url, { method: "POST", body: form, headers: { authorization: `Bearer ${token}` } });
      const json = await response.json();
      if (!response.ok) throw ConnectNowError.from(json.error, response.status);
      onProgress?.(1);
      return json;
    }
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
      xhr.onerror = () => reject(new ConnectNowError("NETWORK", "upload failed", { retryable: true }));
      xhr.onload = () => {
        let json = null;
        try {
          json = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON: handled below */
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress?.(1);
          resolve(json);
        } else reject(ConnectNowError.from(json?.error ?? { code: `HTTP_${xhr.status}` }, xhr.status));
      };
      xhr.send(form);
    });
  }
}

// One `sync` call for several conversations; each applies its own result.
async function syncConversations(client, conversations) {
  if (!conversations.length) return;
  const request = conversations.map((c) => ({ kind: c.kind, id: c.id, lastEventSeq: c.lastEventSeq }));
  for (const c of conversations) c._syncStarted();
  let results;
  try {
    results = await client.call("sync", { conversations: request });
  } catch (err) {
    for (const c of conversations) c._syncFailed(err);
    return;
  }
  for (const result of results) await client.conversations.get(`${result.kind}:${result.id}`)?._applySync(result);
}

/**
 * One channel or direct conversation. Keeps its messages by id (`messages`) and emits:
 * `message` (a message was added or changed: live, from sync, from history, or a local pending one),
 * `reload` ({gap}: sync could not recover and the REST cursor was paged; redraw from `messages`),
 * `lost` (ConnectNowError: you can no longer read it), `typing` (Map userId -> username),
 * `read` (a read receipt), and `event` (every raw event, name and data).
 */
export class Conversation extends Emitter {
  constructor(client, kind, id) {
    super();
    this.client = client;
    this.kind = kind;
    this.id = id;
    this.spec = KINDS[kind];
    /** @type {Map<string, object>} id (or "pending:<clientMsgId>") -> message */
    this.messages = new Map();
    /** Highest contiguous eventSeq processed, or null before the first history load. */
    this.lastEventSeq = null;
    /** eventSeqs seen above a hole. */
    this.ahead = new Set();
    /** True once the oldest message has been loaded. */
    this.reachedStart = false;
    /** userId -> username of those typing now. */
    this.typers = new Map();
    this.#typingTimers = new Map();
    this.#holeTimer = null;
    this.#syncing = false;
  }

  #typingTimers;
  #holeTimer;
  #syncing;

  get #idPayload() {
    return { [this.spec.idKey]: this.id };
  }

  /** Messages in display order (by seq; pending ones last). `filter(m)` picks e.g. top-level or a thread. */
  list(filter = () => true) {
    return [...this.messages.values()]
      .filter(filter)
      .sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || (a.localAt ?? 0) - (b.localAt ?? 0));
  }

  /** Load the latest page (and start following the stream from there). */
  async loadLatest(limit = 50) {
    const page = await this.client.call(this.spec.history, { ...this.#idPayload, limit });
    this.reachedStart = page.length < limit;
    this.#absorb(page, "history");
    if (this.lastEventSeq === null) {
      // Start from the newest stamp we have; an edit to an older message just shows up as a hole and a sync.
      this.lastEventSeq = page.reduce((max, m) => Math.max(max, m.lastEventSeq ?? 0), 0);
    }
    return page;
  }

  /** Load the page before the oldest loaded message (infinite scroll back); resolves with it. */
  async loadOlder(limit = 50) {
    const seqs = [...this.messages.values()].map((m) => m.seq).filter((s) => s !== undefined);
    if (!seqs.length) return this.loadLatest(limit);
    const oldest = Math.min(...seqs);
    if (oldest <= 1) {
      this.reachedStart = true;
      return [];
    }
    const page = await this.client.call(this.spec.history, { ...this.#idPayload, before: oldest, limit });
    if (page.length < limit) this.reachedStart = true;
    this.#absorb(page, "history");
    return page;
  }

  /**
   * Send with an optimistic pending entry (`pending: true`, then the stored message; `failed` on error, then
   * `retry(clientMsgId)` sends again with the same clientMsgId, so it is stored once).
   */
  async send(content, { parentId, attachmentIds, type, clientMsgId = newClientMsgId() } = {}) {
    const key = `pending:${clientMsgId}`;
    const local = {
      id: key,
      clientMsgId,
      content,
      parentId: parentId ?? null,
      userId: this.client.user?.id,
      senderId: this.client.user?.id,
      attachments: [],
      reactions: [],
      pending: true,
      localAt: Date.now(),
      request: { parentId, attachmentIds, type },
    };
    this.messages.set(key, local);
    this.emit("message", local, "pending");
    return this.#deliver(local);
  }

  /** Send a failed message again (same clientMsgId). */
  retry(clientMsgId) {
    const local = this.messages.get(`pending:${clientMsgId}`);
    if (!local) throw new Error(`no pending message ${clientMsgId}`);
    local.failed = null;
    local.pending = true;
    this.emit("message", local, "pending");
    return this.#deliver(local);
  }

  async #deliver(local) {
    const { parentId, attachmentIds, type } = local.request;
    const payload = { ...this.#idPayload, content: local.content, clientMsgId: local.clientMsgId };
    if (parentId) payload.parentId = parentId;
    if (attachmentIds?.length) payload.attachmentIds = attachmentIds;
    if (type) payload.type = type;
    try {
      const { message } = await this.client.call(this.spec.send, payload);
      this.messages.delete(local.id);
      this.#store(message, "sent", local.id);
      return message;
    } catch (err) {
      if (err.retryable && this.client.state !== "connected") {
        // Offline: it stays pending and goes out again (same clientMsgId, so stored once) after the reconnect.
        local.awaitingReconnect = true;
        throw err;
      }
      local.pending = false;
      local.failed = err;
      this.emit("message", local, "failed");
      throw err;
    }
  }

  /** After a reconnect: send again what timed out while offline. */
  _resendWaiting() {
    for (const local of [...this.messages.values()]) {
      if (local.awaitingReconnect && local.pending) {
        local.awaitingReconnect = false;
        this.#deliver(local).catch(() => {});
      }
    }
  }

  /** Edit your message (optimistic concurrency on its version). */
  async edit(messageId, content) {
    const current = this.messages.get(messageId);
    const message = await this.client.call(this.spec.edit, { messageId, content, version: current?.version ?? 1 });
    this.#store(message, "edit");
    return message;
  }

  async delete(messageId) {
    const message = await this.client.call(this.spec.remove, { messageId });
    this.#store(message, "delete");
    return message;
  }

  /** Mark read up to a message (the newest when omitted). */
  markRead(messageId) {
    const payload = { ...this.#idPayload };
    const newest = messageId ?? this.list((m) => !m.pending).at(-1)?.id;
    if (newest) payload.messageId = newest;
    else if (this.kind === "channel") return Promise.resolve(null);
    return this.client.call(this.spec.markRead, payload);
  }

  // Channels only: reactions, pins, threads, search is on the workspace.
  async react(messageId, emoji, on = true) {
    const reactions = await this.client.call(on ? "reaction:add" : "reaction:remove", { messageId, emoji });
    const m = this.messages.get(messageId);
    if (m) {
      m.reactions = reactions;
      this.emit("message", m, "reaction");
    }
    return reactions;
  }

  async pin(messageId, on = true) {
    const message = await this.client.call(on ? "message:pin" : "message:unpin", { messageId });
    this.#store(message, "pin");
    return message;
  }

  pins() {
    return this.client.call("message:pins", this.#idPayload);
  }

  /** Load a thread's replies into `messages` and resolve with them (oldest first). */
  async thread(rootId, limit = 100) {
    const replies = await this.client.call("message:thread", { messageId: rootId, limit });
    this.#absorb(replies, "history");
    return replies;
  }

  /** Call while the user types (throttled); `stopTyping()` when they stop or send. */
  startTyping() {
    return this.client.typing.start(this.#idPayload);
  }

  stopTyping() {
    return this.client.typing.stop(this.#idPayload);
  }

  // ---- Stream rule ----------------------------------------------------------------------------------

  _onEvent(event, data) {
    this.emit("event", event, data);
    if (event === "typing:started" || event === "typing:stopped") return this.#onTyping(event, data);
    if (event === "channel:read" || event === "dm:read") return this.emit("read", data);
    if (typeof data.eventSeq !== "number") return;
    if (this.spec.live.includes(event) && data.message) {
      this.#store(data.message, "live");
      if (data.message.userId ?? data.message.senderId) this.#clearTyper(data.message.userId ?? data.message.senderId);
    } else if (REACTION_EVENTS.includes(event)) {
      this.#patch(data.messageId, { reactions: data.reactions }, data.eventSeq);
    } else if (event === "thread:updated") {
      this.#patch(data.messageId, { replyCount: data.replyCount, lastReplyAt: data.lastReplyAt }, data.eventSeq);
    }
    this.#track(data.eventSeq);
  }

  // Advance the contiguous mark; anything above a hole waits a little for the hole to fill, then syncs.
  #track(eventSeq) {
    if (this.lastEventSeq === null || eventSeq <= this.lastEventSeq) return;
    this.ahead.add(eventSeq);
    this.#advance();
  }

  #advance() {
    while (this.ahead.has(this.lastEventSeq + 1)) {
      this.ahead.delete(this.lastEventSeq + 1);
      this.lastEventSeq += 1;
    }
    if (this.ahead.size) this.#scheduleHoleCheck(this.client.holeWaitMs);
    else clearTimeout(this.#holeTimer);
  }

  #scheduleHoleCheck(delay) {
    clearTimeout(this.#holeTimer);
    this.#holeTimer = setTimeout(() => {
      if (this.ahead.size && this.client.state === "connected" && !this.#syncing) this.sync().catch(() => {});
    }, delay);
    this.#holeTimer.unref?.();
  }

  /** Catch up from the last contiguous eventSeq now. */
  sync() {
    return syncConversations(this.client, [this]);
  }

  _syncStarted() {
    this.#syncing = true;
  }

  _syncFailed(err) {
    this.#syncing = false;
    this.emit("syncerror", err);
  }

  async _applySync(result) {
    try {
      if (result.error) {
        this.emit("lost", ConnectNowError.from(result.error));
        return;
      }
      if (result.recovered) {
        this.#absorb(result.messages, "sync");
      } else {
        // Too much to send in one answer: page the REST cursor to the end, then tell the caller to redraw.
        let cursor = result.cursor;
        while (cursor) {
          const page = await this.client.rest("GET", cursor);
          this.#absorb(page.messages, "sync");
          cursor = page.nextCursor;
        }
        this.emit("reload", { gap: result.gap });
      }
      this.#jumpTo(result.latestEventSeq);
    } finally {
      this.#syncing = false;
    }
  }

  #jumpTo(latest) {
    this.lastEventSeq = Math.max(this.lastEventSeq ?? 0, latest);
    for (const s of [...this.ahead]) if (s <= this.lastEventSeq) this.ahead.delete(s);
    this.#advance(); // events that arrived above the synced point may still leave a hole
  }

  #absorb(messages, source) {
    for (const m of messages) this.#store(m, source);
  }

  // Keep the newest state of each message: a late live event never overwrites what a sync already brought.
  #store(message, source, replacing) {
    const known = this.messages.get(message.id);
    if (known && (known.lastEventSeq ?? 0) > (message.lastEventSeq ?? 0)) return;
    // Our own send echoed live before its ack: drop the pending twin.
    const twin = message.clientMsgId && this.messages.get(`pending:${message.clientMsgId}`);
    if (twin && (message.userId ?? message.senderId) === this.client.user?.id) {
      this.messages.delete(twin.id);
      replacing = twin.id;
    }
    this.messages.set(message.id, message);
    this.emit("message", message, source, replacing);
  }

  #patch(messageId, fields, eventSeq) {
    const m = this.messages.get(messageId);
    if (!m || (m.lastEventSeq ?? 0) > eventSeq) return;
    Object.assign(m, fields, { lastEventSeq: eventSeq });
    this.emit("message", m, "live");
  }

  #onTyping(event, data) {
    if (event === "typing:started") {
      this.typers.set(data.userId, data.username);
      clearTimeout(this.#typingTimers.get(data.userId));
      const timer = setTimeout(() => this.#clearTyper(data.userId), (data.expiresIn ?? 6) * 1000 + 500);
      timer.unref?.();
      this.#typingTimers.set(data.userId, timer);
    } else {
      this.typers.delete(data.userId);
    }
    this.emit("typing", this.typers);
  }

  #clearTyper(userId) {
    clearTimeout(this.#typingTimers.get(userId));
    if (this.typers.delete(userId)) this.emit("typing", this.typers);
  }

  _close() {
    clearTimeout(this.#holeTimer);
    for (const t of this.#typingTimers.values()) clearTimeout(t);
  }
}

/** Typing indicator helper: `start` at most once per refresh interval per conversation, `stop` once. */
export class TypingHelper {
  constructor(client) {
    this.client = client;
    this.last = new Map();
  }

  #key(target) {
    return target.channelId ? `c:${target.channelId}` : `d:${target.conversationId}`;
  }

  start(target) {
    const key = this.#key(target);
    const now = Date.now();
    if (now - (this.last.get(key) ?? 0) < TYPING_REFRESH_MS) return Promise.resolve(null);
    this.last.set(key, now);
    return this.client.call("typing:start", target).catch(() => null);
  }

  stop(target) {
    const key = this.#key(target);
    if (!this.last.has(key)) return Promise.resolve(null);
    this.last.delete(key);
    return this.client.call("typing:stop", target).catch(() => null);
  }
}
