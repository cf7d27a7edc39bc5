// The raw (byte-stream) client: the same `h` → `k`/`x` handshake, reconnect and liveness as a typed socket, then
// opaque text and binary frames (docs/protocol.md §1.11). The keepalive sentinels are answered and never surfaced.

import { Connection } from "./connection.js";
import { RAW_PING, RAW_PONG } from "./frame.js";

/**
 * Creates a byte-stream client. `socket` describes the endpoint: `{path, connect?: {query?, errors?}, shapes?}`
 * (a generated contract descriptor also fits). Config as for `createClient` (no `timeout`: there are no requests).
 */
export function createRawClient(socket, config = {}) {
  return new RawClient(socket, config);
}

export class RawClient extends Connection {
  #listeners = [];

  /** Sends one frame: a string as text, bytes (`ArrayBuffer`, a typed array, a `Blob`) as binary. */
  send(data) {
    this._send(data);
  }

  /** `callback(data, isBinary)` for every inbound frame: text as a string, binary as a `Uint8Array`. */
  onMessage(callback) {
    this.#listeners.push(callback);
    return () => {
      this.#listeners = this.#listeners.filter((c) => c !== callback);
    };
  }

  _pingFrame() {
    return RAW_PING;
  }

  _attach() {}

  _detach() {}

  _frame(data) {
    if (typeof data === "string") {
      if (data === RAW_PING) {
        try {
          this._send(RAW_PONG);
        } catch {
          // the socket went away
        }
        return;
      }
      if (data === RAW_PONG) return;
      this.#deliver(data, false);
    } else {
      this.#deliver(new Uint8Array(data), true);
    }
  }

  #deliver(data, isBinary) {
    for (const callback of [...this.#listeners]) {
      try {
        callback(data, isBinary);
      } catch (error) {
        this._emitError(error);
      }
    }
  }
}
