// The raw (byte-stream) client: same handshake, then opaque text and binary frames; keepalive sentinels hidden.

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { RAW_PING, RAW_PONG, createRawClient } from "../../src/index.js";
import { WebSocket, eventually, startServer, withTimeout } from "./fake-server.js";

const cleanup = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const PTY = {
  path: "ws/pty",
  connect: {
    query: { kind: "object", fields: [{ name: "vmId", shape: { kind: "string" }, rules: { nonEmpty: true } }] },
    errors: [],
  },
};

async function setup(config = {}) {
  const s = await startServer();
  cleanup.push(() => s.close());
  const c = createRawClient(PTY, { url: s.url, query: { vmId: "vm1" }, WebSocket, reconnect: false, ...config });
  cleanup.push(() => c.close());
  return { s, c };
}

test("the raw client runs the typed handshake, then streams text and binary frames both ways", async () => {
  const { s, c } = await setup();
  const received = [];
  c.onMessage((data, isBinary) => received.push([data, isBinary]));
  assert.throws(() => c.send("early"), (e) => e.type === "SERVER_ERROR");
  const connecting = c.connect();
  const peer = await s.nextPeer();
  assert.equal(peer.url, "/ws/pty?vmId=vm1");
  assert.equal(await peer.accept(), "h:::{}");
  await connecting;
  c.send("ls -l\n");
  c.send(new Uint8Array([0, 1, 255]));
  assert.equal(await peer.next(), "ls -l\n");
  assert.deepEqual(await peer.next(), { binary: new Uint8Array([0, 1, 255]) });
  peer.send("text out");
  peer.send(Buffer.from([7, 8]));
  // A text frame that looks like a typed frame is still just bytes here.
  peer.send("m:Chat.ping::");
  await eventually(() => received.length === 3);
  assert.deepEqual(received, [
    ["text out", false],
    [new Uint8Array([7, 8]), true],
    ["m:Chat.ping::", false],
  ]);
});

test("keepalive sentinels are answered and never surfaced", async () => {
  const { s, c } = await setup();
  const received = [];
  c.onMessage((data) => received.push(data));
  const connecting = c.connect();
  const peer = await s.nextPeer();
  await peer.accept();
  await connecting;
  peer.send(RAW_PING);
  assert.equal(await peer.next(), RAW_PONG);
  peer.send(RAW_PONG);
  // The sentinel only counts as a text frame: the same bytes in a binary frame are data.
  peer.send(Buffer.from(RAW_PING));
  peer.send("after");
  await eventually(() => received.length === 2);
  assert.equal(new TextDecoder().decode(received[0]), RAW_PING);
  assert.equal(received[1], "after");
});

test("the raw heartbeat pings with the sentinel; an invalid query never opens a socket", async () => {
  const { s, c } = await setup({ reconnect: { heartbeat: { intervalMs: 30, timeoutMs: 1000 } } });
  const connecting = c.connect();
  const peer = await s.nextPeer();
  await peer.accept();
  await connecting;
  assert.equal(await peer.next(), RAW_PING);
  const bad = createRawClient(PTY, { url: s.url, query: { vmId: "" }, WebSocket });
  await assert.rejects(bad.connect(), (e) => e.type === "VALIDATION_ERROR" && e.data[0].path === "vmId");
  assert.equal(s.peers.length, 1);
});

test("a raw stream reconnects after a drop and keeps its message handler", async () => {
  const { s, c } = await setup({ reconnect: { initialDelayMs: 5, heartbeat: false } });
  const received = [];
  c.onMessage((data) => received.push(data));
  const connecting = c.connect();
  const first = await s.nextPeer();
  await first.accept();
  await connecting;
  first.socket.terminate();
  const second = await s.nextPeer();
  await second.accept();
  await eventually(() => c.isConnected);
  second.send("fresh");
  await eventually(() => received.length === 1);
  assert.deepEqual(received, ["fresh"]);
});

test("raw frames in the same TCP read as k are delivered in order, on connect and after a reconnect", async () => {
  const { s, c } = await setup({ reconnect: { initialDelayMs: 5, heartbeat: false } });
  const received = [];
  let marker = null;
  c.onMessage((data, isBinary) => {
    received.push(isBinary ? [...data] : data);
    if (marker && data === marker.data) marker.resolve();
  });
  /** Resolves once the frame `data` (sent on its own, after the batch) has been delivered. */
  const delivered = (data) =>
    received.includes(data)
      ? Promise.resolve()
      : withTimeout(new Promise((resolve) => (marker = { data, resolve })), 5000, `delivery of ${data}`);
  const connecting = c.connect();
  const first = await s.nextPeer();
  // `k:::null`, a text frame, a binary frame and another text frame in one write on the TCP socket.
  await first.acceptWith("out1", new Uint8Array([1, 2, 3]), "out2");
  await connecting;
  first.send("later1");
  await delivered("later1");
  assert.deepEqual(received, ["out1", [1, 2, 3], "out2", "later1"]);

  const reconnected = new Promise((resolve) => c.onStateChange((state) => state === "connected" && resolve(undefined)));
  first.socket.terminate();
  const second = await s.nextPeer();
  await second.acceptWith(new Uint8Array([9]), "again");
  await withTimeout(reconnected, 5000, "reconnect");
  second.send("later2");
  await delivered("later2");
  assert.deepEqual(received.slice(4), [[9], "again", "later2"]);
});
