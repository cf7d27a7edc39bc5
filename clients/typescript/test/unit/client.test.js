// The typed client against a scripted in-process server: the exact frames it sends, what it makes of replies,
// incoming handlers, timeouts, drops, reconnect, terminal errors, heartbeat and lifecycle.

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { GrestError, createClient } from "../../src/index.js";
import { ChatContract } from "../../../../examples/chat/static/chat-contract.js";
import { WebSocket, eventually, sleep, startServer, withTimeout } from "./fake-server.js";

const servers = [];
const clients = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await server.close();
});

async function server() {
  const s = await startServer();
  servers.push(s);
  return s;
}

function client(url, config = {}) {
  const c = createClient(ChatContract, { url, WebSocket, reconnect: false, ...config });
  clients.push(c);
  return c;
}

/** A connected client and the server's side of its socket. */
async function connected(config = {}) {
  const s = await server();
  const c = client(s.url, config);
  const connecting = c.connect();
  const peer = await s.nextPeer();
  await peer.accept();
  await connecting;
  return { s, c, peer };
}

const OK = (data) => JSON.stringify({ success: true, type: "OK", data });

/** The first value the callback `subscribe` registers gets, e.g. `nextEvent((cb) => c.onStateChange(cb))`. */
function nextEvent(subscribe) {
  return new Promise((resolve) => {
    const unsubscribe = subscribe((value) => {
      unsubscribe();
      resolve(value);
    });
  });
}

test("handshake: path, query and headers, then connected", async () => {
  const s = await server();
  const c = client(`${s.url}/`, { query: { name: "alice" }, headers: { authorization: "Bearer t" } });
  const states = [];
  c.onStateChange((state) => states.push(state));
  const connecting = c.connect();
  const peer = await s.nextPeer();
  assert.equal(peer.url, "/ws/chat?name=alice");
  assert.equal(await peer.next(), 'h:::{"authorization":"Bearer t"}');
  assert.equal(c.isConnected, false);
  peer.send("k:::null");
  await connecting;
  assert.equal(c.isConnected, true);
  assert.deepEqual(states, ["connecting", "connected"]);
});

test("requests are numbered from 1, replies are matched by id, data is validated", async () => {
  const { c, peer } = await connected();
  const first = c.outgoing.sendMessage({ text: "hi", channelId: "general" });
  const second = c.outgoing.sendMessage({ text: "there", channelId: "general" });
  assert.equal(await peer.next(), 'r:Chat.sendMessage:1:{"text":"hi","channelId":"general"}');
  assert.equal(await peer.next(), 'r:Chat.sendMessage:2:{"text":"there","channelId":"general"}');
  assert.equal(c.pendingRequests, 2);
  // Out of order, and an unknown id is ignored.
  peer.send(`s:Chat.sendMessage:9:${OK({ success: true, messageId: "m9" })}`);
  peer.send(`s:Chat.sendMessage:2:${OK({ success: true, messageId: "m2" })}`);
  peer.send(`s:Chat.sendMessage:1:${OK({ success: true, messageId: "m1" })}`);
  assert.deepEqual(await first, { success: true, messageId: "m1" });
  assert.deepEqual(await second.asResult(), { success: true, type: "OK", data: { success: true, messageId: "m2" } });
  assert.equal(c.pendingRequests, 0);
});

test("invalid input fails locally with every issue and never reaches the wire", async () => {
  const { c, peer } = await connected();
  const result = await c.outgoing.sendMessage({ text: "", channelId: 5 }).asResult();
  assert.ok(result instanceof GrestError);
  assert.equal(result.type, "VALIDATION_ERROR");
  assert.equal(result.statusCode, 422);
  assert.deepEqual(result.data, [{ path: "text", code: "invalid.string.nonEmpty", message: "Value must not be empty", value: "" }]);
  await assert.rejects(c.outgoing.markAsRead({}), (e) => e.type === "SERVER_ERROR");
  await c.outgoing.ping();
  assert.equal(await peer.next(), "m:Chat.ping::", "nothing was sent before the ping");
});

test("error replies follow the listing rule; broken OK data is SERVER_ERROR Invalid response", async () => {
  const { c, peer } = await connected();
  const issues = [{ path: "text", code: "invalid.string.nonEmpty", message: "Value must not be empty", value: "" }];
  const calls = [1, 2, 3, 4].map(() => c.outgoing.sendMessage({ text: "x", channelId: "g" }).asResult());
  for (let i = 0; i < 4; i++) await peer.next();
  const context = { displayMessage: "Invalid arguments", timestamp: 1700000000000, ref: "ERR_REF_abc" };
  peer.send(`s:Chat.sendMessage:1:${JSON.stringify({ success: false, type: "VALIDATION_ERROR", data: issues, statusCode: 422, context })}`);
  peer.send(`s:Chat.sendMessage:2:${JSON.stringify({ success: false, type: "ROOM_FULL", statusCode: 400, context })}`);
  peer.send(`s:Chat.sendMessage:3:${OK({ success: "yes" })}`);
  peer.send(`s:Chat.sendMessage:4:${JSON.stringify({ success: false, type: "SERVER_ERROR", statusCode: 500, context: { timestamp: 1, ref: "ERR_REF_x" } })}`);
  const [validation, undeclared, broken, server] = await Promise.all(calls);
  assert.equal(validation.type, "VALIDATION_ERROR");
  assert.deepEqual(validation.data, issues);
  assert.deepEqual(validation.context, context);
  assert.deepEqual([undeclared.type, undeclared.context.displayMessage], ["SERVER_ERROR", "Invalid response"]);
  assert.deepEqual([broken.type, broken.context.displayMessage], ["SERVER_ERROR", "Invalid response"]);
  assert.deepEqual([server.type, server.context.ref], ["SERVER_ERROR", "ERR_REF_x"]);
  // `await` rejects with the same instances.
  const rejected = c.outgoing.sendMessage({ text: "x", channelId: "g" });
  await peer.next();
  peer.send(`s:Chat.sendMessage:5:${JSON.stringify({ success: false, type: "VALIDATION_ERROR", data: issues, statusCode: 422, context })}`);
  await assert.rejects(rejected, (e) => e instanceof GrestError && e.type === "VALIDATION_ERROR");
});

test("fire-and-forget calls send m frames, with no data when the method has no input", async () => {
  const { c, peer } = await connected();
  assert.equal(await c.outgoing.markAsRead({ messageId: "m1", extra: undefined }), undefined);
  await c.outgoing.ping();
  assert.equal(await peer.next(), 'm:Chat.markAsRead::{"messageId":"m1"}');
  assert.equal(await peer.next(), "m:Chat.ping::");
});

test("incoming: pushes reach handlers, requests are answered, unhandled ones get ROUTE_NOT_FOUND", async () => {
  const { c, peer } = await connected();
  const messages = [];
  c.incoming.on({ newMessage: (m) => messages.push(m) });
  peer.send("r:Chat.areYouThere:1:");
  const notFound = JSON.parse((await peer.next()).slice("s:Chat.areYouThere:1:".length));
  assert.equal(notFound.type, "ROUTE_NOT_FOUND");
  assert.equal(notFound.statusCode, 404);
  assert.equal(notFound.context.displayMessage, "Route not found: Chat.areYouThere");
  c.incoming.on({ areYouThere: async () => true });
  peer.send("r:Chat.areYouThere:2:");
  assert.equal(await peer.next(), 's:Chat.areYouThere:2:{"success":true,"type":"OK","data":true}');
  peer.send('m:Chat.newMessage::{"id":"m1","text":"hi","senderId":"bob","timestamp":"17"}');
  // An invalid push is dropped; an invalid request is answered VALIDATION_ERROR.
  peer.send('m:Chat.newMessage::{"id":"m2"}');
  c.incoming.on({ typing: () => {} });
  peer.send('r:Chat.typing:3:{"userId":1}');
  const invalid = JSON.parse((await peer.next()).slice("s:Chat.typing:3:".length));
  assert.equal(invalid.type, "VALIDATION_ERROR");
  assert.equal(invalid.context.displayMessage, "Invalid arguments");
  assert.deepEqual(invalid.data.map((i) => i.path), ["channelId"]);
  assert.deepEqual(messages, [{ id: "m1", text: "hi", senderId: "bob", timestamp: 17 }]);
  // A fire-and-forget method called with `r` is answered OK without data.
  peer.send('r:Chat.typing:4:{"userId":"u","channelId":"c"}');
  assert.equal(await peer.next(), 's:Chat.typing:4:{"success":true,"type":"OK"}');
  assert.throws(() => c.incoming.on({ nope: () => {} }), /no server-to-client method "nope"/);
});

test("a handler's errors: declared pass, undeclared and bad results become Invalid response", async () => {
  const { c, peer } = await connected();
  const answers = [
    () => {
      throw new GrestError("SERVER_ERROR", { displayMessage: "busy" });
    },
    () => {
      throw new GrestError("ROOM_FULL", { statusCode: 400 });
    },
    () => "yes",
    () => {
      throw new Error("secret detail");
    },
  ];
  const replies = [];
  for (const [i, answer] of answers.entries()) {
    c.incoming.on({ areYouThere: answer });
    peer.send(`r:Chat.areYouThere:${i + 1}:`);
    replies.push(JSON.parse((await peer.next()).split(":").slice(3).join(":")));
  }
  assert.deepEqual(
    replies.map((r) => [r.type, r.context.displayMessage]),
    [
      ["SERVER_ERROR", "busy"],
      ["SERVER_ERROR", "Invalid response"],
      ["SERVER_ERROR", "Invalid response"],
      ["SERVER_ERROR", undefined],
    ],
  );
  assert.ok(!JSON.stringify(replies).includes("secret"));
});

test("p::: is answered with o:::", async () => {
  const { peer } = await connected();
  peer.send("p:::");
  assert.equal(await peer.next(), "o:::");
});

test("a request without a reply times out; a late reply is ignored", async () => {
  const { c, peer } = await connected({ timeout: 100 });
  const started = Date.now();
  const result = await c.outgoing.sendMessage({ text: "x", channelId: "g" }).asResult();
  assert.deepEqual([result.type, result.context.displayMessage], ["SERVER_ERROR", "Request timeout"]);
  assert.ok(Date.now() - started >= 95);
  await peer.next();
  peer.send(`s:Chat.sendMessage:1:${OK({ success: true, messageId: "late" })}`);
  peer.send("p:::");
  assert.equal(await peer.next(), "o:::", "still connected");
  assert.equal(c.pendingRequests, 0);
});

test("per-call timeout: the call fails alone, its slot is freed, a late reply is ignored", async () => {
  const { c, peer } = await connected();
  const slow = c.outgoing.sendMessage({ text: "slow", channelId: "g" }, { timeout: 50 }).asResult();
  const other = c.outgoing.sendMessage({ text: "other", channelId: "g" });
  assert.equal(await peer.next(), 'r:Chat.sendMessage:1:{"text":"slow","channelId":"g"}');
  await peer.next();
  const result = await slow;
  assert.deepEqual([result.type, result.context.displayMessage, result.reason], ["SERVER_ERROR", "Request timeout", "timeout"]);
  assert.equal(c.pendingRequests, 1, "the other call still waits (client timeout: 30 s)");
  peer.send(`s:Chat.sendMessage:1:${OK({ success: true, messageId: "late" })}`);
  peer.send(`s:Chat.sendMessage:2:${OK({ success: true, messageId: "m2" })}`);
  assert.deepEqual(await other, { success: true, messageId: "m2" });
  assert.equal(c.pendingRequests, 0);
});

test("an AbortSignal cancels a call: typed error with the signal's reason, slot freed, late reply ignored", async () => {
  const { c, peer } = await connected();
  const controller = new AbortController();
  const call = c.outgoing.sendMessage({ text: "x", channelId: "g" }, { signal: controller.signal }).asResult();
  await peer.next();
  assert.equal(c.pendingRequests, 1);
  const why = new Error("the user left the page");
  controller.abort(why);
  const result = await call;
  assert.ok(result instanceof GrestError);
  assert.deepEqual([result.type, result.context.displayMessage, result.reason], ["SERVER_ERROR", "Request aborted", "aborted"]);
  assert.equal(result.cause, why);
  assert.equal(c.pendingRequests, 0);
  peer.send(`s:Chat.sendMessage:1:${OK({ success: true, messageId: "late" })}`);
  // A signal aborted before the call sends nothing, for requests and fire-and-forget alike (a method without input
  // takes the options first).
  const early = await c.outgoing.sendMessage({ text: "y", channelId: "g" }, { signal: controller.signal }).asResult();
  assert.equal(early.reason, "aborted");
  assert.equal((await c.outgoing.ping({ signal: controller.signal }).asResult()).reason, "aborted");
  await c.outgoing.ping({ signal: new AbortController().signal });
  assert.equal(await peer.next(), "m:Chat.ping::", "the first frame after the aborted call is the live ping");
  const live = c.outgoing.sendMessage({ text: "z", channelId: "g" });
  assert.equal(await peer.next(), 'r:Chat.sendMessage:2:{"text":"z","channelId":"g"}');
  peer.send(`s:Chat.sendMessage:2:${OK({ success: true, messageId: "m2" })}`);
  assert.deepEqual(await live, { success: true, messageId: "m2" });
  assert.equal(c.pendingRequests, 0);
});

test("not connected: API advice before connect(), words for end users after", async () => {
  const s = await server();
  const never = client(s.url);
  const result = await never.outgoing.sendMessage({ text: "x", channelId: "g" }).asResult();
  assert.deepEqual(
    [result.context.displayMessage, result.reason],
    ["WebSocket client is not connected. Call connect() first.", "not-connected"],
  );

  const c = client(s.url, { reconnect: { initialDelayMs: 60_000, heartbeat: false } });
  const connecting = c.connect();
  const peer = await s.nextPeer();
  const early = await c.outgoing.ping().asResult();
  assert.deepEqual([early.context.displayMessage, early.reason], ["Not connected yet (connecting…)", "connecting"]);
  await peer.accept();
  await connecting;
  const reconnecting = nextEvent((callback) => c.onReconnecting(callback));
  peer.socket.terminate();
  await reconnecting; // the next attempt is a minute away
  const later = await c.outgoing.sendMessage({ text: "x", channelId: "g" }).asResult();
  assert.deepEqual([later.context.displayMessage, later.reason], ["Not connected (reconnecting…)", "reconnecting"]);
  c.close();
  const closed = await c.outgoing.ping().asResult();
  assert.deepEqual([closed.context.displayMessage, closed.reason], ["Not connected (the connection was closed)", "closed"]);

  const refused = client("ws://127.0.0.1:1");
  await assert.rejects(refused.connect());
  const failed = await refused.outgoing.ping().asResult();
  assert.deepEqual([failed.context.displayMessage, failed.reason], ["Not connected (the connection failed)", "not-connected"]);
});

test("a drop fails pending requests and, with reconnect off, is the final close", async () => {
  const { c, peer } = await connected();
  const events = [];
  c.onDisconnect((reason) => events.push(`disconnect:${reason}`));
  c.onClose((reason) => events.push(`close:${reason}`));
  const pending = c.outgoing.sendMessage({ text: "x", channelId: "g" }).asResult();
  await peer.next();
  peer.socket.terminate();
  const result = await pending;
  assert.deepEqual([result.type, result.context.displayMessage], ["SERVER_ERROR", "Socket connection closed!"]);
  await eventually(() => events.length === 2);
  assert.deepEqual(events, ["disconnect:drop", "close:drop"]);
  assert.equal(c.state, "closed");
});

test("after a drop the client reconnects, re-runs setup and numbers requests from 1 again", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 20, heartbeat: false } });
  const setups = [];
  const connecting = c.connect(({ isReconnect, incoming }) => {
    setups.push(isReconnect);
    incoming.on({ areYouThere: () => isReconnect });
  });
  const first = await s.nextPeer();
  await first.accept();
  await connecting;
  const states = [];
  c.onStateChange((state) => states.push(state));
  void c.outgoing.sendMessage({ text: "a", channelId: "g" }).asResult();
  assert.equal(await first.next(), 'r:Chat.sendMessage:1:{"text":"a","channelId":"g"}');
  first.socket.close(1001);
  const second = await s.nextPeer();
  await second.accept();
  await eventually(() => c.isConnected);
  assert.deepEqual(setups, [false, true]);
  assert.deepEqual(states, ["reconnecting", "connected"]);
  second.send("r:Chat.areYouThere:1:");
  assert.equal(await second.next(), 's:Chat.areYouThere:1:{"success":true,"type":"OK","data":true}');
  void c.outgoing.sendMessage({ text: "b", channelId: "g" }).asResult();
  assert.equal(await second.next(), 'r:Chat.sendMessage:1:{"text":"b","channelId":"g"}');
});

/** What handlers received, in order; `until(item)` resolves once `item` is in (an event, not a poll). */
function inbox() {
  const items = [];
  let waiters = [];
  return {
    items,
    push(item) {
      items.push(item);
      for (const waiter of waiters.filter((w) => w.item === item)) waiter.resolve();
      waiters = waiters.filter((w) => w.item !== item);
    },
    until(item) {
      if (items.includes(item)) return Promise.resolve();
      return withTimeout(new Promise((resolve) => waiters.push({ item, resolve })), 5000, `handler to receive ${item}`);
    },
  };
}

test("pushes in the same TCP read as k reach their handlers in order, on connect and after a reconnect", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 5, heartbeat: false } });
  const got = inbox();
  const message = (id) => `m:Chat.newMessage::${JSON.stringify({ id, text: id, senderId: "bob", timestamp: "17" })}`;
  const typing = (userId) => `m:Chat.typing::${JSON.stringify({ userId, channelId: "general" })}`;
  const connecting = c.connect(({ incoming, isReconnect }) => {
    const tag = isReconnect ? "again" : "first";
    incoming.on({
      newMessage: (m) => got.push(`${tag}:message:${m.id}`),
      typing: (t) => got.push(`${tag}:typing:${t.userId}`),
    });
  });
  const first = await s.nextPeer();
  // `k:::null` and three pushes in one write: `ws` emits all four `message` events in one synchronous go.
  await first.acceptWith(message("a1"), typing("u1"), message("a2"));
  await connecting;
  // A later push on its own: once it is handled, everything the server sent before it must have been too.
  first.send(message("a3"));
  await got.until("first:message:a3");
  assert.deepEqual(got.items, ["first:message:a1", "first:typing:u1", "first:message:a2", "first:message:a3"]);

  const reconnected = new Promise((resolve) => c.onStateChange((state) => state === "connected" && resolve(undefined)));
  first.socket.terminate();
  const second = await s.nextPeer();
  await second.acceptWith(typing("u2"), message("b1"));
  await withTimeout(reconnected, 5000, "reconnect");
  second.send(message("b2"));
  await got.until("again:message:b2");
  assert.deepEqual(got.items.slice(4), ["again:typing:u2", "again:message:b1", "again:message:b2"]);
  assert.equal(c.state, "connected");
});

test("a terminal handshake error ends reconnecting as unrecoverable", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 10, heartbeat: false } });
  const closed = new Promise((resolve) => c.onClose((reason, error) => resolve({ reason, error })));
  const errors = [];
  c.onError((e) => errors.push(e));
  const connecting = c.connect();
  await (await s.nextPeer()).accept();
  await connecting;
  s.peers[0].socket.terminate();
  const again = await s.nextPeer();
  await again.next();
  const context = { displayMessage: "Invalid token", timestamp: 1, ref: "ERR_REF_t" };
  again.send(`x:::${JSON.stringify({ success: false, type: "NOT_AUTHORIZED", statusCode: 401, context })}`);
  again.socket.close(4001, "Handshake failed");
  const { reason, error } = await closed;
  assert.equal(reason, "unrecoverable");
  assert.equal(error.type, "NOT_AUTHORIZED");
  assert.deepEqual(error.context, context);
  assert.deepEqual(errors, [error]);
  assert.equal(s.peers.length, 2, "no further attempt");
});

test("retryable failures are retried until maxAttempts, then retries-exhausted", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 5, maxAttempts: 3, heartbeat: false } });
  const closed = new Promise((resolve) => c.onClose((reason, error) => resolve({ reason, error })));
  const connecting = c.connect();
  await (await s.nextPeer()).accept();
  await connecting;
  s.peers[0].socket.terminate();
  for (let i = 0; i < 3; i++) {
    const peer = await s.nextPeer();
    await peer.next();
    peer.send('x:::{"message":"nope"}');
  }
  const { reason, error } = await closed;
  assert.equal(reason, "retries-exhausted");
  assert.deepEqual([error.type, error.context.displayMessage], ["SERVER_ERROR", "WebSocket handshake failed"]);
  assert.equal(s.peers.length, 4);
});

test("the heartbeat sends p::: and drops a silent link (reported to onError), then reconnects", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 5, heartbeat: { intervalMs: 40, timeoutMs: 60 } } });
  const drops = [];
  const errors = [];
  c.onDisconnect((reason) => drops.push(reason));
  c.onError((error) => errors.push(error.context.displayMessage));
  const connecting = c.connect();
  const first = await s.nextPeer();
  await first.accept();
  await connecting;
  // Traffic keeps the link alive: answer pings for a while.
  const started = Date.now();
  while (Date.now() - started < 200) {
    const frame = await first.next();
    assert.equal(frame, "p:::");
    first.send("o:::");
  }
  assert.deepEqual(drops, []);
  // Then go silent: the client gives up on this socket within interval + 2 * timeout and opens another.
  const second = await s.nextPeer(1000);
  assert.deepEqual(drops, ["drop"]);
  assert.deepEqual(errors, ["WebSocket heartbeat timeout: nothing heard from the server"], "reported before the drop");
  await second.accept();
  await eventually(() => c.isConnected);
});

test("handshake failures: x frame, close 4000, timeout; the first connect is not retried", async () => {
  const s = await server();
  const rejected = client(s.url, { reconnect: true });
  const attempt = rejected.connect();
  const peer = await s.nextPeer();
  await peer.next();
  peer.send(`x:::${JSON.stringify({ success: false, type: "FORBIDDEN", statusCode: 403, context: { timestamp: 1, ref: "r" } })}`);
  await assert.rejects(attempt, (e) => e.type === "FORBIDDEN" && e.statusCode === 403);
  assert.equal(rejected.state, "idle");

  const badQuery = client(s.url);
  const attempt2 = badQuery.connect();
  const peer2 = await s.nextPeer();
  await peer2.next();
  peer2.socket.close(4000, "Invalid query parameters");
  await assert.rejects(attempt2, (e) => e.type === "VALIDATION_ERROR" && e.context.displayMessage === "Invalid query parameters");

  const slow = client(s.url, { handshakeTimeoutMs: 80 });
  const attempt3 = slow.connect();
  await (await s.nextPeer()).next();
  await assert.rejects(attempt3, (e) => e.type === "SERVER_ERROR" && e.context.displayMessage === "Handshake timeout");
  await sleep(100);
  assert.equal(s.peers.length, 3, "no retry of a first connect");
});

test("an invalid query fails before any socket is opened", async () => {
  const s = await server();
  const c = client(s.url, { query: { name: "" } });
  await assert.rejects(c.connect(), (e) => {
    assert.equal(e.type, "VALIDATION_ERROR");
    assert.equal(e.context.displayMessage, "Invalid query parameters");
    assert.deepEqual(e.data.map((i) => i.code), ["invalid.string.nonEmpty"]);
    return true;
  });
  await sleep(50);
  assert.equal(s.peers.length, 0);
});

test("beforeConnect supplies fresh params for every attempt", async () => {
  const s = await server();
  let n = 0;
  const c = createClient(ChatContract, {
    WebSocket,
    beforeConnect: async () => ({ url: s.url, query: { name: `v${++n}` }, headers: { "x-attempt": String(n) } }),
    reconnect: { initialDelayMs: 5, heartbeat: false },
  });
  clients.push(c);
  const connecting = c.connect();
  const first = await s.nextPeer();
  assert.equal(await first.accept(), 'h:::{"x-attempt":"1"}');
  await connecting;
  first.socket.terminate();
  const second = await s.nextPeer();
  assert.equal(second.url, "/ws/chat?name=v2");
  assert.equal(await second.accept(), 'h:::{"x-attempt":"2"}');
  assert.throws(
    () => createClient(ChatContract, { url: "x", beforeConnect: () => ({}) }),
    /either url\/query\/headers or beforeConnect/,
  );
});

test("disconnect() waits for pending requests; a closed client cannot connect again", async () => {
  const { c, peer } = await connected();
  const reasons = [];
  c.onClose((reason) => reasons.push(reason));
  const call = c.outgoing.sendMessage({ text: "x", channelId: "g" });
  await peer.next();
  const disconnecting = c.disconnect();
  await sleep(30);
  assert.equal(c.state, "connected", "still waiting for the reply");
  peer.send(`s:Chat.sendMessage:1:${OK({ success: true, messageId: "m1" })}`);
  assert.deepEqual(await call, { success: true, messageId: "m1" });
  await disconnecting;
  assert.equal(await peer.closed, 1005, "a close frame without a status code");
  assert.deepEqual(reasons, ["manual"]);
  assert.equal(c.state, "closed");
  await assert.rejects(c.connect(), (e) => /cannot be reconnected/.test(e.context.displayMessage));
});

test("close() is immediate: pending requests fail, no reconnect", async () => {
  const { s, c, peer } = await connected({ reconnect: { initialDelayMs: 5 } });
  const call = c.outgoing.sendMessage({ text: "x", channelId: "g" }).asResult();
  await peer.next();
  c.close();
  assert.equal((await call).context.displayMessage, "Socket connection closed!");
  await peer.closed;
  await sleep(50);
  assert.equal(s.peers.length, 1);
});

test("forceReconnect() replaces the socket", async () => {
  const { s, c } = await connected({ reconnect: { initialDelayMs: 5, heartbeat: false } });
  c.forceReconnect();
  assert.equal(c.state, "reconnecting");
  await (await s.nextPeer()).accept();
  await eventually(() => c.isConnected);
  assert.equal(s.peers.length, 2);
});

test("a reply to a request from a dropped socket is not sent on the next one", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 5, heartbeat: false } });
  let answer;
  c.incoming.on({ areYouThere: () => new Promise((resolve) => (answer = resolve)) });
  const connecting = c.connect();
  const first = await s.nextPeer();
  await first.accept();
  await connecting;
  first.send("r:Chat.areYouThere:1:");
  await eventually(() => answer !== undefined);
  first.socket.terminate();
  const second = await s.nextPeer();
  await second.accept();
  await eventually(() => c.isConnected);
  answer(true);
  assert.equal(await second.silentFor(100), true);
});

test("reconnecting events carry the attempt, its delay and the previous failure; connected() waits for the socket", async () => {
  const s = await server();
  const c = client(s.url, { reconnect: { initialDelayMs: 5, jitter: 0, heartbeat: false } });
  const events = [];
  const connecting = c.connect();
  const afterConnect = c.connected();
  await (await s.nextPeer()).accept();
  await connecting;
  await afterConnect;
  await c.connected(); // already connected: at once

  const reconnected = new Promise((resolve) => c.onReconnecting((event) => events.push(event) && resolve()));
  s.peers[0].socket.terminate();
  await reconnected;
  const back = c.connected();
  const refused = await s.nextPeer();
  await refused.next();
  refused.send('x:::{"message":"nope"}');
  const accepted = await s.nextPeer();
  await accepted.accept();
  await back;
  assert.equal(c.isConnected, true);
  assert.deepEqual(
    events.map(({ attempt, delayMs }) => ({ attempt, delayMs })),
    [
      { attempt: 1, delayMs: 5 },
      { attempt: 2, delayMs: 10 },
    ],
  );
  assert.equal(events[0].error, undefined, "the first attempt follows a drop, not a failure");
  assert.deepEqual([events[1].error.type, events[1].error.context.displayMessage], ["SERVER_ERROR", "WebSocket handshake failed"]);

  // A client that closes for good rejects whoever waits for it.
  c.forceReconnect();
  const never = c.connected();
  c.close();
  await assert.rejects(never, (e) => e.reason === "closed");
  await assert.rejects(c.connected(), (e) => e.reason === "closed");
});
