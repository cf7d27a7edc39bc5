// What typed and raw clients share: connect params, the `h` → `k`/`x` handshake, the connection state, liveness
// (app-level heartbeat) and the reconnect loop with backoff, jitter and terminal errors (docs/protocol.md §2.3, §3,
// §4, §12).

import { encodeFrame, parseFrame } from "./frame.js";
import {
  CLIENT_CLOSED,
  CLOSED,
  CONNECT_FAILED,
  CONNECTING,
  GrestError,
  INVALID_QUERY,
  NOT_CONNECTED,
  RECONNECTING,
  SOCKET_CLOSED,
  SYSTEM_ERRORS,
  clientError,
  serverError,
  validationError,
} from "./errors.js";
import { validate } from "./validate.js";

/** Reconnect defaults: 500 ms, ×2, capped at 30 s, jittered, unlimited attempts. */
export const RECONNECT_DEFAULTS = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  maxAttempts: Infinity,
  jitter: 0.5,
});

/** Heartbeat defaults: `p:::` every 25 s; dead after 25 s + 20 s without inbound traffic. */
export const HEARTBEAT_DEFAULTS = Object.freeze({ intervalMs: 25_000, timeoutMs: 20_000 });

export const HANDSHAKE_TIMEOUT_MS = 5_000;
export const GRACEFUL_DISCONNECT_MS = 5_000;

/** Errors after which reconnecting cannot help: bad credentials, missing permission, a malformed query. */
export function defaultShouldRetry(error) {
  return !(
    error instanceof GrestError &&
    (error.type === "NOT_AUTHORIZED" || error.type === "FORBIDDEN" || error.type === "VALIDATION_ERROR")
  );
}

/**
 * The delay before reconnect attempt `attempt` (0, 1, 2, …): `min(initial · multiplier^attempt, max)`, of which
 * the `jitter` fraction is random, so clients dropped together do not come back together.
 */
export function backoffDelay(attempt, config = RECONNECT_DEFAULTS, random = Math.random) {
  const { initialDelayMs, maxDelayMs, multiplier, jitter } = { ...RECONNECT_DEFAULTS, ...config };
  const full = Math.min(initialDelayMs * multiplier ** attempt, maxDelayMs);
  return full * (1 - jitter * random());
}

/**
 * Builds the socket URL: base (`""` = this page's origin; `http(s)` becomes `ws(s)`) without a trailing `/`, the
 * path with a leading `/`, then the query (entries that are `undefined` or `null` left out; no `?` when empty).
 */
export function buildUrl(base, path, query) {
  let url = base ?? "";
  if (url === "" && typeof globalThis.location !== "undefined") {
    url = `${globalThis.location.protocol === "https:" ? "wss:" : "ws:"}//${globalThis.location.host}`;
  }
  url = url.replace(/^http(s?):/, "ws$1:").replace(/\/+$/, "");
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  const search = params.toString();
  return `${url}${path.startsWith("/") ? "" : "/"}${path}${search ? `?${search}` : ""}`;
}

const OPEN = 1;

/**
 * The connection engine. Subclasses implement `_attach(isReconnect)`, `_frame(data)`, `_detach()` and
 * `_pingFrame()`; the engine calls them on the right occasions.
 */
export class Connection {
  #descriptor;
  #config;
  #reconnect;
  #heartbeat;
  #state = "idle";
  #socket = null;
  #finished = false;
  #connecting = null;
  #wake = null;
  #timers = [];
  #lastActivity = 0;
  #generation = 0;
  #connectCalled = false;
  #listeners = { close: [], disconnect: [], error: [], state: [], reconnecting: [] };

  constructor(descriptor, config = {}) {
    if ((config.url !== undefined || config.query !== undefined || config.headers !== undefined) && config.beforeConnect) {
      throw new TypeError("connection params come from either url/query/headers or beforeConnect, never both");
    }
    this.#descriptor = descriptor;
    this.#config = config;
    const reconnect = config.reconnect ?? true;
    this.#reconnect = reconnect === false ? null : { ...RECONNECT_DEFAULTS, ...(reconnect === true ? {} : reconnect) };
    const heartbeat = this.#reconnect ? (this.#reconnect.heartbeat ?? {}) : false;
    this.#heartbeat = heartbeat === false ? null : { ...HEARTBEAT_DEFAULTS, ...heartbeat };
  }

  /** `idle` → `connecting` → `connected` ⇄ `reconnecting` → `closed`. */
  get state() {
    return this.#state;
  }

  /** Whether a socket is open and past its handshake. */
  get isConnected() {
    return this.#state === "connected" && this.#socket !== null;
  }

  /** The final close, once: `manual`, `drop` (reconnect off), `retries-exhausted` or `unrecoverable`. */
  onClose(callback) {
    return this.#on("close", callback);
  }

  /** Every socket drop (`drop`) or manual close (`manual`), before any reconnect attempt. */
  onDisconnect(callback) {
    return this.#on("disconnect", callback);
  }

  /** Socket errors (including a missed heartbeat) and every failed reconnect attempt. */
  onError(callback) {
    return this.#on("error", callback);
  }

  /** Every state change, with the new state. */
  onStateChange(callback) {
    return this.#on("state", callback);
  }

  /**
   * Before every reconnect attempt: `{attempt, delayMs, error}` — the attempt's number (1, 2, …), the delay before
   * it, and why the previous attempt failed (`undefined` for the first attempt after a drop).
   */
  onReconnecting(callback) {
    return this.#on("reconnecting", callback);
  }

  /**
   * Resolves once a socket is open and past its handshake: at once when it is, otherwise at the next (re)connection.
   * Rejects with the close's error when the client closes for good first.
   */
  connected() {
    if (this.isConnected) return Promise.resolve();
    if (this.#finished) return Promise.reject(clientError(CLOSED, "closed"));
    return new Promise((resolve, reject) => {
      const stop = () => {
        offState();
        offClose();
      };
      const offState = this.#on("state", (state) => {
        if (state !== "connected") return;
        stop();
        resolve();
      });
      const offClose = this.#on("close", (reason, error) => {
        stop();
        reject(error ?? clientError(CLOSED, "closed"));
      });
    });
  }

  /**
   * Opens the socket and runs the handshake. Rejects (without retrying) when the first attempt fails; the client
   * can then be connected again.
   */
  connect() {
    if (this.#finished) return Promise.reject(serverError(CLIENT_CLOSED));
    this.#connectCalled = true;
    if (this.#state === "connected") return Promise.resolve();
    if (this.#connecting) return this.#connecting;
    this.#setState("connecting");
    this.#connecting = this.#open(false).then(
      () => {
        this.#connecting = null;
      },
      (error) => {
        this.#connecting = null;
        if (!this.#finished) this.#setState("idle");
        throw error;
      },
    );
    return this.#connecting;
  }

  /** Drops the current socket as if the network had, so the reconnect loop opens a new one. */
  forceReconnect() {
    if (this.#reconnect && !this.#finished && this.#socket) this.#dropped(this.#socket);
  }

  /** Closes at once: pending requests fail with `Socket connection closed!`; no reconnect. */
  close() {
    this.#finish();
  }

  /** Graceful close: waits (up to 5 s) for this side's pending requests, then closes; no reconnect. */
  async disconnect() {
    if (this.#finished) return;
    let timer;
    await Promise.race([
      this._settled(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, GRACEFUL_DISCONNECT_MS);
      }),
    ]);
    clearTimeout(timer);
    this.#finish();
  }

  /** Counts the sockets that got past their handshake; a reply belongs to the socket its request came on. */
  get _generation() {
    return this.#generation;
  }

  /** Sends a text or binary frame on the open socket; throws `SERVER_ERROR` when there is none. */
  _send(data) {
    const socket = this.#socket;
    if (!socket) throw this.#notConnected();
    if (socket.readyState !== OPEN) throw clientError(SOCKET_CLOSED, "socket-closed");
    socket.send(data);
  }

  /**
   * Why there is no socket, in words for end users — except before the first `connect()`, when the mistake is the
   * program's.
   */
  #notConnected() {
    switch (this.#state) {
      case "connecting":
        return clientError(CONNECTING, "connecting");
      case "reconnecting":
        return clientError(RECONNECTING, "reconnecting");
      case "closed":
        return clientError(CLOSED, "closed");
      default:
        return clientError(this.#connectCalled ? CONNECT_FAILED : NOT_CONNECTED, "not-connected");
    }
  }

  _emitError(error) {
    this.#emit("error", error);
  }

  /** Resolves when this side has no pending requests (subclasses with requests override it). */
  _settled() {
    return Promise.resolve();
  }

  #on(event, callback) {
    this.#listeners[event].push(callback);
    return () => {
      this.#listeners[event] = this.#listeners[event].filter((c) => c !== callback);
    };
  }

  #emit(event, ...args) {
    for (const callback of [...this.#listeners[event]]) {
      try {
        callback(...args);
      } catch (error) {
        if (event !== "error") this.#emit("error", error);
      }
    }
  }

  #setState(state) {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit("state", state);
  }

  async #params() {
    if (this.#config.beforeConnect) {
      const params = (await this.#config.beforeConnect()) ?? {};
      return { url: params.url, query: params.query, headers: params.headers };
    }
    return { url: this.#config.url, query: this.#config.query, headers: this.#config.headers };
  }

  /** One attempt: params, query validation, socket, handshake. Resolves once `k` arrived and the socket is live. */
  async #open(isReconnect) {
    const { url, query, headers } = await this.#params();
    const queryShape = this.#descriptor.connect?.query;
    if (queryShape) {
      const { issues } = validate(queryShape, query ?? {}, this.#descriptor.shapes);
      if (issues.length > 0) throw validationError(issues, INVALID_QUERY);
    }
    const WebSocketImpl = this.#config.WebSocket ?? globalThis.WebSocket;
    if (!WebSocketImpl) throw serverError("No WebSocket implementation: pass {WebSocket} in the client config");
    const socket = new WebSocketImpl(buildUrl(url, this.#descriptor.path, query));
    socket.binaryType = "arraybuffer";
    await this.#handshake(socket, headers ?? {}, isReconnect);
  }

  /**
   * Runs the handshake on a new socket and makes it the live one while handling its `k` frame. The socket has one
   * set of listeners for its whole life, so a frame that follows `k` in the same read — `ws` in Node emits them
   * back to back, synchronously — already finds the socket live and the setup callbacks run, and nothing is lost
   * or reordered. The promise settles with the handshake: resolved at `k`, rejected at `x`, a close or a timeout.
   */
  #handshake(socket, headers, isReconnect) {
    const timeoutMs = this.#config.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      /** `handshake` until `k` (→ `live`) or a failure (→ `failed`: the socket is ignored from then on). */
      let phase = "handshake";
      const fail = (error) => {
        if (phase !== "handshake") return;
        phase = "failed";
        clearTimeout(timer);
        try {
          socket.close();
        } catch {
          // already closing
        }
        reject(error);
      };
      const timer = setTimeout(() => fail(serverError("Handshake timeout")), timeoutMs);
      socket.addEventListener("open", () => {
        if (phase !== "handshake") return;
        try {
          socket.send(encodeFrame("h", "", undefined, headers));
        } catch (error) {
          fail(serverError(`WebSocket handshake failed: ${error}`));
        }
      });
      socket.addEventListener("message", (event) => {
        if (phase === "live") {
          if (this.#socket !== socket) return;
          this.#lastActivity = Date.now();
          this._frame(event.data);
          return;
        }
        if (phase !== "handshake" || typeof event.data !== "string") return;
        const frame = parseFrame(event.data);
        if (frame?.type === "x") {
          fail(this.#handshakeError(frame.data));
        } else if (frame?.type === "k") {
          if (this.#finished) {
            fail(serverError(CLIENT_CLOSED));
            return;
          }
          clearTimeout(timer);
          phase = "live";
          this.#live(socket, isReconnect);
          resolve();
        }
      });
      socket.addEventListener("close", (event) => {
        if (phase === "handshake") fail(closedDuringHandshake(event.code, event.reason));
        else if (phase === "live" && this.#socket === socket) this.#dropped(socket);
      });
      socket.addEventListener("error", (event) => {
        if (phase === "live" && this.#socket === socket) {
          this.#emit("error", serverError(`WebSocket error: ${event.message ?? "connection failed"}`));
        }
      });
    });
  }

  /** The `x` frame's error: a system or declared type keeps its class; anything else is `SERVER_ERROR`. */
  #handshakeError(data) {
    const error = GrestError.fromJSON(data);
    if (!error) return serverError("WebSocket handshake failed");
    const declared = (this.#descriptor.connect?.errors ?? []).some((e) => e.type === error.type);
    if (error.type in SYSTEM_ERRORS || declared) return error;
    return new GrestError("SERVER_ERROR", { context: error.context, data: { type: error.type } });
  }

  /** Makes `socket` the live one (its listeners are already in place, see `#handshake`) and runs the setups. */
  #live(socket, isReconnect) {
    this.#socket = socket;
    this.#generation += 1;
    this.#lastActivity = Date.now();
    this.#startHeartbeat(socket);
    this.#setState("connected");
    this._attach(isReconnect);
  }

  #startHeartbeat(socket) {
    if (!this.#heartbeat) return;
    const { intervalMs, timeoutMs } = this.#heartbeat;
    const ping = setInterval(() => {
      if (this.#socket === socket && socket.readyState === OPEN) socket.send(this._pingFrame());
    }, intervalMs);
    const watchdog = setInterval(() => {
      if (this.#socket === socket && Date.now() - this.#lastActivity > intervalMs + timeoutMs) {
        this.#emit("error", serverError("WebSocket heartbeat timeout: nothing heard from the server"));
        this.#dropped(socket);
      }
    }, timeoutMs);
    this.#timers = [ping, watchdog];
  }

  #stopHeartbeat() {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }

  /** Lets go of a socket: no more events from it, and it is closed (terminated where the platform can). */
  #release(socket) {
    this.#stopHeartbeat();
    this.#socket = null;
    try {
      if (typeof socket.terminate === "function") socket.terminate();
      else socket.close();
    } catch {
      // already closed
    }
    this._detach();
  }

  /** The socket is gone without anyone asking: reconnect, or finish with `drop`. */
  #dropped(socket) {
    this.#release(socket);
    this.#emit("disconnect", "drop");
    if (this.#reconnect && !this.#finished) {
      this.#setState("reconnecting");
      void this.#reconnectLoop();
    } else {
      this.#final("drop");
    }
  }

  async #reconnectLoop() {
    const config = this.#reconnect;
    const shouldRetry = config.shouldRetry ?? defaultShouldRetry;
    let lastError;
    for (let attempt = 0; !this.#finished; ) {
      const delayMs = backoffDelay(attempt, config);
      this.#emit("reconnecting", { attempt: attempt + 1, delayMs, error: lastError });
      if (this.#finished) return;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
      if (this.#finished) return;
      try {
        await this.#open(true);
        return;
      } catch (error) {
        if (this.#finished) return;
        this.#emit("error", error);
        if (!shouldRetry(error)) return this.#final("unrecoverable", error);
        lastError = error;
        attempt += 1;
        if (attempt >= config.maxAttempts) return this.#final("retries-exhausted", error);
      }
    }
  }

  #finish() {
    if (this.#finished) return;
    this.#finished = true;
    this.#wake?.();
    const socket = this.#socket;
    if (socket) {
      this.#stopHeartbeat();
      this.#socket = null;
      try {
        socket.close();
      } catch {
        // already closed
      }
      this._detach();
      this.#emit("disconnect", "manual");
    }
    this.#final("manual");
  }

  #final(reason, error) {
    this.#finished = true;
    this.#setState("closed");
    this.#emit("close", reason, error);
  }
}

/** The meaning of a close during the handshake: 4000 = the server refused the query. */
function closedDuringHandshake(code, reason) {
  if (code === 4000) return validationError([], INVALID_QUERY);
  if (code === 4001) return serverError(reason || "Handshake failed");
  return serverError(`WebSocket closed during the handshake${code ? ` (code ${code})` : ""}`);
}
