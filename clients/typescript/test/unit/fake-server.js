// A tiny in-process WebSocket server (the `ws` package) that records every frame and lets a test script the
// server side of the protocol frame by frame.

import { WebSocketServer } from "ws";

export { WebSocket } from "ws";

/** Starts a server on a free loopback port. `onConnection(peer)` runs for every accepted socket. */
export async function startServer(onConnection = () => {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  const peers = [];
  const waiting = [];
  wss.on("connection", (socket, request) => {
    const peer = new Peer(socket, request.url);
    peers.push(peer);
    onConnection(peer);
    waiting.shift()?.(peer);
  });
  const { port } = wss.address();
  return {
    url: `ws://127.0.0.1:${port}`,
    peers,
    /** The next socket to connect (or the one that already did and was not taken yet). */
    nextPeer(timeoutMs = 5000) {
      const taken = peers.filter((p) => p.taken).length;
      if (peers.length > taken) {
        const peer = peers[taken];
        peer.taken = true;
        return Promise.resolve(peer);
      }
      return withTimeout(
        new Promise((resolve) =>
          waiting.push((peer) => {
            peer.taken = true;
            resolve(peer);
          }),
        ),
        timeoutMs,
        "no connection",
      );
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** One accepted socket: its upgrade URL and every frame it received, in order. */
export class Peer {
  constructor(socket, url) {
    this.socket = socket;
    this.url = url;
    this.frames = [];
    this.taken = false;
    this.closed = new Promise((resolve) => socket.once("close", (code) => resolve(code)));
    this.waiters = [];
    socket.on("message", (data, isBinary) => {
      const frame = isBinary ? { binary: new Uint8Array(data) } : data.toString();
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    });
  }

  /** The next frame received (text as a string, binary as `{binary: Uint8Array}`). */
  next(timeoutMs = 5000) {
    if (this.frames.length > 0) return Promise.resolve(this.frames.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), timeoutMs, "no frame");
  }

  /** Resolves to `true` if no frame arrives within `ms`. */
  async silentFor(ms) {
    if (this.frames.length > 0) return false;
    let got = false;
    const waiter = () => {
      got = true;
    };
    this.waiters.push(waiter);
    await sleep(ms);
    this.waiters = this.waiters.filter((w) => w !== waiter);
    return !got;
  }

  send(data) {
    this.socket.send(data);
  }

  /** Reads the client's `h` frame and answers `k:::null`; returns the `h` frame. */
  async accept() {
    const hello = await this.next();
    this.send("k:::null");
    return hello;
  }

  /**
   * Reads the client's `h` frame, then writes `k:::null` and `frames` in ONE write on the TCP socket, so the client
   * reads them in one go (and the `ws` package emits their `message` events synchronously, back to back). Returns
   * the `h` frame.
   */
  async acceptWith(...frames) {
    const hello = await this.next();
    this.sendTogether("k:::null", ...frames);
    return hello;
  }

  /** Writes several frames (text as a string, binary as bytes) in one write on the underlying TCP socket. */
  sendTogether(...frames) {
    this.socket._socket.write(Buffer.concat(frames.map(encodeServerFrame)));
  }
}

/** One unmasked, unfragmented server → client WebSocket frame (RFC 6455 §5.2). */
function encodeServerFrame(data) {
  const binary = typeof data !== "string";
  const payload = binary ? Buffer.from(data) : Buffer.from(data, "utf8");
  let header;
  if (payload.length < 126) {
    header = Buffer.from([0x80 | (binary ? 0x2 : 0x1), payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | (binary ? 0x2 : 0x1);
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | (binary ? 0x2 : 0x1);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Resolves once `predicate()` holds (polled), or rejects after `ms`. */
export async function eventually(predicate, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}
