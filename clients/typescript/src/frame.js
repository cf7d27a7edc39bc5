// The text frame codec of docs/protocol.md §1.2: `<type>:<path>:<id>:<data>`, no escaping.

/** Frame types whose path may be empty: handshake, handshake ok/error, ping, pong. */
export const CONTROL_TYPES = new Set(["h", "k", "x", "p", "o"]);

/** The application-level ping and pong of typed sockets (browsers cannot send protocol pings). */
export const PING_FRAME = "p:::";
export const PONG_FRAME = "o:::";

/** Keepalive sentinels of raw (byte-stream) sockets: NUL + name + NUL, always text frames. */
export const RAW_PING = "\u0000gg-raw-ping\u0000";
export const RAW_PONG = "\u0000gg-raw-pong\u0000";

/**
 * Writes a frame. `data` is serialized with `JSON.stringify`; `undefined` leaves the data field empty.
 * @param {string} type
 * @param {string} [path]
 * @param {string | number} [id]
 * @param {unknown} [data]
 * @returns {string}
 */
export function encodeFrame(type, path = "", id = undefined, data = undefined) {
  const payload = data === undefined ? "" : JSON.stringify(data);
  return `${type}:${path}:${id === undefined || id === null ? "" : id}:${payload ?? ""}`;
}

/**
 * Reads a frame exactly as the original does: split on every `:`, re-join the data; a data field that is not JSON
 * becomes `undefined` (the frame is still processed); an empty id is `undefined`. Returns `null` for a frame every
 * receiver ignores (empty, no type, or no path on a non-control type).
 * @param {string} text
 * @returns {{type: string, path: string, id: string | undefined, data: unknown} | null}
 */
export function parseFrame(text) {
  if (!text) return null;
  const parts = text.split(":");
  const type = parts[0];
  const path = parts[1] ?? "";
  if (!type || (!CONTROL_TYPES.has(type) && !path)) return null;
  const id = parts[2] ? parts[2] : undefined;
  let data;
  if (parts.length > 3) {
    const raw = parts.slice(3).join(":");
    if (raw) {
      try {
        data = JSON.parse(raw);
      } catch {
        data = undefined;
      }
    }
  }
  return { type, path, id, data };
}
