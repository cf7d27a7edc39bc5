// The typed client: outgoing calls with local validation and the receiver's listing rule, partial incoming
// handlers (answering server → client requests), request correlation and timeouts (docs/protocol.md §1, §2.2, §2.3).

import { Connection } from "./connection.js";
import {
  GrestError,
  INVALID_ARGUMENTS,
  INVALID_RESPONSE,
  REQUEST_ABORTED,
  REQUEST_TIMEOUT,
  SOCKET_CLOSED,
  admitError,
  clientError,
  isObject,
  serverError,
  toGrestError,
  validationError,
} from "./errors.js";
import { PONG_FRAME, PING_FRAME, encodeFrame, parseFrame } from "./frame.js";
import { validate } from "./validate.js";

export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A call's promise: `await` it for the data (it rejects with a `GrestError`), or `asResult()` for
 * `{success: true, type: "OK", data}` or the error itself.
 */
export class GrestPromise {
  #promise;

  constructor(promise) {
    this.#promise = Promise.resolve(promise).catch((error) => {
      throw toGrestError(error);
    });
  }

  then(onFulfilled, onRejected) {
    return this.#promise.then(onFulfilled, onRejected);
  }

  catch(onRejected) {
    return this.#promise.catch(onRejected);
  }

  finally(onFinally) {
    return this.#promise.finally(onFinally);
  }

  /** Never rejects: the success envelope or the `GrestError`. */
  asResult() {
    return this.#promise.then(
      (data) => ({ success: true, type: "OK", data }),
      (error) => error,
    );
  }

  /** The data, or `fallback` when the call failed. */
  orDefault(fallback) {
    return this.#promise.catch(() => fallback);
  }

  /** A promise of `mapper(data)`; failures pass through. */
  map(mapper) {
    return new GrestPromise(this.#promise.then(mapper));
  }

  get [Symbol.toStringTag]() {
    return "GrestPromise";
  }
}

/**
 * Creates a typed client for a generated contract descriptor. Config: `url` (`""` = same origin) + `query` +
 * `headers`, or `beforeConnect` (run before every attempt); `reconnect` (`true` by default, `false`, or
 * `{initialDelayMs, maxDelayMs, multiplier, maxAttempts, jitter, shouldRetry, heartbeat}`); `timeout` (request
 * timeout, 30 s); `handshakeTimeoutMs` (5 s); `WebSocket` (defaults to the global one).
 */
export function createClient(contract, config = {}) {
  return new GrestClient(contract, config);
}

export class GrestClient extends Connection {
  #contract;
  #timeoutMs;
  #handlers = new Map();
  #incomingByPath = new Map();
  #pending = new Map();
  #settledWaiters = [];
  #nextId = 1;
  #setups = [];

  constructor(contract, config = {}) {
    super(contract, config);
    this.#contract = contract;
    this.#timeoutMs = config.timeout ?? REQUEST_TIMEOUT_MS;
    for (const [key, method] of Object.entries(contract.serverToClient ?? {})) {
      this.#incomingByPath.set(method.path, { key, method });
    }
    /** Handlers for server → client methods; partial — an unhandled request is answered `ROUTE_NOT_FOUND`. */
    this.incoming = Object.freeze({
      on: (handlers) => {
        for (const [key, handler] of Object.entries(handlers)) {
          if (!Object.hasOwn(contract.serverToClient ?? {}, key)) {
            throw new TypeError(`${contract.name} has no server-to-client method ${JSON.stringify(key)}`);
          }
          if (handler === undefined) this.#handlers.delete(key);
          else this.#handlers.set(key, handler);
        }
      },
    });
    const outgoing = {};
    for (const [key, method] of Object.entries(contract.clientToServer ?? {})) {
      // A method without input takes the call options first.
      outgoing[key] = method.input
        ? (input, options) => new GrestPromise(this.#call(method, input, options))
        : (options) => new GrestPromise(this.#call(method, undefined, options));
    }
    /**
     * One function per client → server method, returning a `GrestPromise`: `(input, options?)`, or `(options?)`
     * for a method without input. Options: `timeout` (ms, overrides the client's) and `signal` (an `AbortSignal`).
     */
    this.outgoing = Object.freeze(outgoing);
  }

  /**
   * Connects. `setup({incoming, outgoing, isReconnect})` runs after every successful (re)connection, before any
   * frame of the new socket is handled — the place to register handlers.
   */
  connect(setup) {
    if (setup && !this.#setups.includes(setup)) this.#setups.push(setup);
    return super.connect();
  }

  /** Number of this side's requests still waiting for a reply. */
  get pendingRequests() {
    return this.#pending.size;
  }

  async #call(method, input, { timeout = this.#timeoutMs, signal } = {}) {
    let data;
    if (method.input) {
      const checked = validate(method.input, input, this.#contract.shapes);
      if (checked.issues.length > 0) {
        // Invalid input never reaches the wire; the error is then subject to the listing rule, like a reply.
        if (!method.request) throw serverError(INVALID_ARGUMENTS);
        throw admitError(validationError(checked.issues), method.errors);
      }
      data = checked.value;
    }
    if (signal?.aborted) throw aborted(signal);
    if (!method.request) {
      this._send(encodeFrame("m", method.path, undefined, data));
      return undefined;
    }
    const id = this.#nextId++;
    const envelope = await new Promise((resolve, reject) => {
      // The slot is freed however the call ends; a reply that comes after is ignored (`#settle` finds no slot).
      const fail = (error) => {
        this.#settle(id);
        reject(error);
      };
      const onAbort = () => fail(aborted(signal));
      const timer = Number.isFinite(timeout)
        ? setTimeout(() => fail(clientError(REQUEST_TIMEOUT, "timeout")), timeout)
        : undefined;
      signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener("abort", onAbort);
      this.#pending.set(id, { resolve, reject, timer, cleanup });
      try {
        this._send(encodeFrame("r", method.path, id, data));
      } catch (error) {
        fail(error);
      }
    });
    return this.#decodeReply(envelope, method);
  }

  /** §1.8 receiver rules: OK data is validated; an error must pass the listing rule; anything else is OK data. */
  #decodeReply(envelope, method) {
    let data = envelope;
    if (isObject(envelope) && envelope.success === true && envelope.type === "OK") {
      data = envelope.data;
    } else if (isObject(envelope) && envelope.success === false && typeof envelope.type === "string") {
      throw admitError(GrestError.fromJSON(envelope), method.errors);
    }
    if (!method.success) return data;
    const checked = validate(method.success, data, this.#contract.shapes);
    if (checked.issues.length > 0) throw serverError(INVALID_RESPONSE);
    return checked.value;
  }

  #settle(id) {
    const slot = this.#pending.get(id);
    if (slot) {
      clearTimeout(slot.timer);
      slot.cleanup();
    }
    this.#pending.delete(id);
    if (this.#pending.size === 0) {
      for (const wake of this.#settledWaiters.splice(0)) wake();
    }
    return slot;
  }

  _settled() {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  _pingFrame() {
    return PING_FRAME;
  }

  _attach(isReconnect) {
    this.#nextId = 1;
    for (const setup of this.#setups) {
      try {
        const result = setup({ incoming: this.incoming, outgoing: this.outgoing, isReconnect });
        if (result && typeof result.then === "function") result.then(undefined, (error) => this._emitError(error));
      } catch (error) {
        this._emitError(error);
      }
    }
  }

  _detach() {
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)?.reject(clientError(SOCKET_CLOSED, "socket-closed"));
    }
  }

  _frame(raw) {
    const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
    const frame = parseFrame(text);
    if (!frame) return;
    switch (frame.type) {
      case "p":
        this.#trySend(PONG_FRAME);
        return;
      case "s": {
        const id = Number(frame.id);
        // A reply nobody waits for (late, after a timeout) is ignored.
        this.#settle(id)?.resolve(frame.data);
        return;
      }
      case "m":
      case "r":
        void this.#incoming(frame);
        return;
      default:
        // `o` only proves liveness; `h`/`k`/`x` after the handshake and unknown types are ignored.
        return;
    }
  }

  /** Sends if the socket of `generation` is still the live one; otherwise the frame is lost with its socket. */
  #trySend(text, generation = this._generation) {
    if (generation !== this._generation) return;
    try {
      this._send(text);
    } catch {
      // the socket went away; the reply is lost with it, as on any peer
    }
  }

  async #incoming(frame) {
    const isRequest = frame.type === "r";
    const generation = this._generation;
    const route = this.#incomingByPath.get(frame.path);
    const handler = route && this.#handlers.get(route.key);
    const reply = (envelope) => {
      if (isRequest) this.#trySend(`s:${frame.path}:${frame.id ?? ""}:${JSON.stringify(envelope)}`, generation);
    };
    if (!handler) {
      reply(new GrestError("ROUTE_NOT_FOUND", { displayMessage: `Route not found: ${frame.path}` }).toJSON());
      return;
    }
    const { method } = route;
    let input;
    if (method.input) {
      const checked = validate(method.input, frame.data, this.#contract.shapes);
      if (checked.issues.length > 0) {
        reply(validationError(checked.issues, INVALID_ARGUMENTS).toJSON());
        return;
      }
      input = checked.value;
    }
    let result;
    try {
      result = await handler(input);
    } catch (thrown) {
      if (!method.request) {
        reply({ success: true, type: "OK" });
        this._emitError(thrown);
        return;
      }
      const error = toGrestError(thrown);
      const listed = error.type === "SERVER_ERROR" || method.errors.some((e) => e.type === error.type);
      reply((listed ? error : serverError(INVALID_RESPONSE)).toJSON());
      return;
    }
    if (!method.request) {
      reply({ success: true, type: "OK" });
      return;
    }
    const checked = validate(method.success, result, this.#contract.shapes);
    if (checked.issues.length > 0) {
      reply(serverError(INVALID_RESPONSE).toJSON());
      return;
    }
    reply({ success: true, type: "OK", data: checked.value });
  }
}

/** The error of a call its signal aborted, carrying the signal's reason as `cause`. */
function aborted(signal) {
  return clientError(REQUEST_ABORTED, "aborted", signal.reason);
}
