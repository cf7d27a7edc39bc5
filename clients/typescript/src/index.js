// @grest-ws/client: the TypeScript/browser client of grest-ws, wire-compatible with grest-ts WebSocket servers.

export { createClient, GrestPromise, REQUEST_TIMEOUT_MS } from "./client.js";
export { createRawClient } from "./raw.js";
export {
  backoffDelay,
  buildUrl,
  defaultShouldRetry,
  HANDSHAKE_TIMEOUT_MS,
  HEARTBEAT_DEFAULTS,
  RECONNECT_DEFAULTS,
} from "./connection.js";
export { GrestError, SYSTEM_ERRORS } from "./errors.js";
export { encodeFrame, parseFrame, PING_FRAME, PONG_FRAME, RAW_PING, RAW_PONG } from "./frame.js";
export { validate } from "./validate.js";
