// Errors as docs/protocol.md §1.8 and §9 define them, and the receiver's listing rule.

/** The standard error set: type → status code. */
export const SYSTEM_ERRORS = Object.freeze({
  VALIDATION_ERROR: 422,
  NOT_AUTHORIZED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  EXISTS: 409,
  PAYLOAD_TOO_LARGE: 413,
  SERVER_ERROR: 500,
});

export const INVALID_RESPONSE = "Invalid response";
export const INVALID_ARGUMENTS = "Invalid arguments";
export const INVALID_QUERY = "Invalid query parameters";
export const SOCKET_CLOSED = "Socket connection closed!";
export const REQUEST_TIMEOUT = "Request timeout";
export const REQUEST_ABORTED = "Request aborted";
export const NOT_CONNECTED = "WebSocket client is not connected. Call connect() first.";
export const CONNECTING = "Not connected yet (connecting…)";
export const RECONNECTING = "Not connected (reconnecting…)";
export const CONNECT_FAILED = "Not connected (the connection failed)";
export const CLOSED = "Not connected (the connection was closed)";
export const CLIENT_CLOSED = "WebSocket client has been closed and cannot be reconnected. Create a new client.";

/** `ERR_REF_` + 8 random base-36 characters + the time in base 36, as the original builds it. */
export function newReference(timestamp = Date.now()) {
  let random = "";
  while (random.length < 8) random += Math.floor(Math.random() * 36).toString(36);
  return `ERR_REF_${random}${timestamp.toString(36)}`;
}

/**
 * A grest error: `{success: false, type, statusCode, data, context: {displayMessage?, timestamp, ref}}`. Every
 * failed call rejects with one (or resolves to one through `asResult()`).
 */
export class GrestError extends Error {
  /**
   * @param {string} type e.g. `VALIDATION_ERROR` or a contract's own `ROOM_FULL`
   * @param {{statusCode?: number, data?: unknown, displayMessage?: string, context?: {displayMessage?: string, timestamp?: number, ref?: string}}} [options]
   */
  constructor(type, options = {}) {
    const given = options.context ?? {};
    const displayMessage = options.displayMessage ?? given.displayMessage;
    super(displayMessage ? `${type}: ${displayMessage}` : type);
    this.name = "GrestError";
    /** Always `false`, so an error and a success result can be told apart by `success`. */
    this.success = false;
    this.type = type;
    this.statusCode = options.statusCode ?? SYSTEM_ERRORS[type] ?? 500;
    this.data = options.data;
    const timestamp = typeof given.timestamp === "number" ? given.timestamp : Date.now();
    this.context = {
      ...(displayMessage === undefined ? {} : { displayMessage }),
      timestamp,
      ref: typeof given.ref === "string" && given.ref ? given.ref : newReference(timestamp),
    };
  }

  /** The wire envelope, keys in the original's order; `data` is left out when undefined. */
  toJSON() {
    return {
      success: false,
      type: this.type,
      ...(this.data === undefined ? {} : { data: this.data }),
      statusCode: this.statusCode,
      context: this.context,
    };
  }

  /**
   * The error an envelope (`x` data or an `s` envelope with `success: false`) describes, or `undefined` when it
   * has no string `type`.
   * @param {unknown} value
   */
  static fromJSON(value) {
    if (!isObject(value) || typeof value.type !== "string") return undefined;
    const context = isObject(value.context) ? value.context : {};
    return new GrestError(value.type, {
      statusCode: typeof value.statusCode === "number" ? value.statusCode : undefined,
      data: value.data,
      context: {
        displayMessage: typeof context.displayMessage === "string" ? context.displayMessage : undefined,
        timestamp: typeof context.timestamp === "number" ? context.timestamp : undefined,
        ref: typeof context.ref === "string" ? context.ref : undefined,
      },
    });
  }
}

/** `SERVER_ERROR` (500), with a display message when given. */
export function serverError(displayMessage) {
  return new GrestError("SERVER_ERROR", { displayMessage });
}

/**
 * A `SERVER_ERROR` the client raises itself, without a reply from the server: `reason` says why (`timeout`,
 * `aborted`, `not-connected`, `connecting`, `reconnecting`, `closed`, `socket-closed`), `cause` what caused it
 * (an abort signal's reason).
 */
export function clientError(displayMessage, reason, cause) {
  const error = serverError(displayMessage);
  error.reason = reason;
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** `VALIDATION_ERROR` (422) listing every issue. */
export function validationError(issues, displayMessage) {
  return new GrestError("VALIDATION_ERROR", { data: issues, displayMessage });
}

/**
 * The receiver's listing rule (§1.8): `SERVER_ERROR` and `PAYLOAD_TOO_LARGE` always pass (their data dropped); a
 * type the method declares passes when its data fits (a `VALIDATION_ERROR` must carry an issue list); anything
 * else becomes `SERVER_ERROR` "Invalid response".
 * @param {GrestError} error
 * @param {ReadonlyArray<{type: string}>} declared
 * @returns {GrestError}
 */
export function admitError(error, declared) {
  if (error.type === "SERVER_ERROR" || error.type === "PAYLOAD_TOO_LARGE") {
    error.data = undefined;
    return error;
  }
  if (!declared.some((d) => d.type === error.type)) return serverError(INVALID_RESPONSE);
  if (error.type === "VALIDATION_ERROR" && !isIssueList(error.data)) return serverError(INVALID_RESPONSE);
  return error;
}

/** Wraps anything thrown into a GrestError (a non-grest throw is a `SERVER_ERROR` without details). */
export function toGrestError(thrown) {
  return thrown instanceof GrestError ? thrown : serverError(undefined);
}

function isIssueList(data) {
  return (
    Array.isArray(data) &&
    data.every(
      (i) => isObject(i) && typeof i.path === "string" && typeof i.code === "string" && typeof i.message === "string",
    )
  );
}

export function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
