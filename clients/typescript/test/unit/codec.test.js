// Frames, errors, validation, URLs and backoff: the pure parts of the client.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  GrestError,
  RAW_PING,
  RAW_PONG,
  backoffDelay,
  buildUrl,
  defaultShouldRetry,
  encodeFrame,
  parseFrame,
  validate,
} from "../../src/index.js";
import { admitError } from "../../src/errors.js";
import { ChatContract } from "../../../../examples/chat/static/chat-contract.js";

test("frames are written without escaping and read as the original reads them", () => {
  assert.equal(encodeFrame("h", "", undefined, {}), "h:::{}");
  assert.equal(encodeFrame("r", "Chat.sendMessage", 1, { text: "a:b" }), 'r:Chat.sendMessage:1:{"text":"a:b"}');
  assert.equal(encodeFrame("m", "Chat.ping"), "m:Chat.ping::");
  assert.equal(encodeFrame("k", "", undefined, null), "k:::null");
  assert.deepEqual(parseFrame('s:Chat.x:7:{"a":"b:c:d"}'), { type: "s", path: "Chat.x", id: "7", data: { a: "b:c:d" } });
  // Two parts are a valid frame; invalid JSON is still processed, as `undefined` data.
  assert.deepEqual(parseFrame("m:X.y"), { type: "m", path: "X.y", id: undefined, data: undefined });
  assert.deepEqual(parseFrame("m:X.y::{nope"), { type: "m", path: "X.y", id: undefined, data: undefined });
  assert.deepEqual(parseFrame("p:::"), { type: "p", path: "", id: undefined, data: undefined });
  // Ignored: empty, no type, a non-control type without a path.
  assert.equal(parseFrame(""), null);
  assert.equal(parseFrame(":a::"), null);
  assert.equal(parseFrame("m:::{}"), null);
  assert.equal(RAW_PING.length, 13);
  assert.equal(RAW_PONG, "\0gg-raw-pong\0");
});

test("errors serialize in the original's key order and come back from their envelope", () => {
  const e = new GrestError("ROOM_FULL", { statusCode: 400, displayMessage: "No seats", data: { seats: 0 } });
  assert.ok(e instanceof Error);
  assert.equal(e.success, false);
  assert.match(e.context.ref, /^ERR_REF_[0-9a-z]{8}[0-9a-z]+$/);
  assert.deepEqual(Object.keys(e.toJSON()), ["success", "type", "data", "statusCode", "context"]);
  assert.deepEqual(Object.keys(e.context), ["displayMessage", "timestamp", "ref"]);
  assert.deepEqual(Object.keys(new GrestError("SERVER_ERROR").toJSON()), ["success", "type", "statusCode", "context"]);
  assert.equal(new GrestError("FORBIDDEN").statusCode, 403);
  const back = GrestError.fromJSON(JSON.parse(JSON.stringify(e)));
  assert.deepEqual(back.toJSON(), e.toJSON());
  assert.equal(GrestError.fromJSON({ message: "x" }), undefined);
});

test("the listing rule keeps declared and always-representable errors only", () => {
  const declared = [{ type: "VALIDATION_ERROR", statusCode: 422 }];
  const issues = [{ path: "text", code: "invalid.string.nonEmpty", message: "Value must not be empty", value: "" }];
  assert.deepEqual(admitError(new GrestError("VALIDATION_ERROR", { data: issues }), declared).data, issues);
  const undeclared = admitError(new GrestError("ROOM_FULL", { statusCode: 400 }), declared);
  assert.equal(undeclared.type, "SERVER_ERROR");
  assert.equal(undeclared.context.displayMessage, "Invalid response");
  // A VALIDATION_ERROR whose data is not an issue list breaks its schema.
  assert.equal(admitError(new GrestError("VALIDATION_ERROR", { data: "x" }), declared).type, "SERVER_ERROR");
  const tooLarge = admitError(new GrestError("PAYLOAD_TOO_LARGE", { data: 1 }), []);
  assert.equal(tooLarge.type, "PAYLOAD_TOO_LARGE");
  assert.equal(tooLarge.data, undefined);
});

const send = ChatContract.clientToServer.sendMessage;

test("validation reports grest's issues for the generated chat shapes", () => {
  assert.deepEqual(validate(send.input, { text: "", channelId: "general" }, ChatContract.shapes).issues, [
    { path: "text", code: "invalid.string.nonEmpty", message: "Value must not be empty", value: "" },
  ]);
  assert.deepEqual(validate(send.input, { text: "hi" }, ChatContract.shapes).issues, [
    { path: "channelId", code: "required", message: "Value is required" },
  ]);
  assert.deepEqual(validate(send.input, null, ChatContract.shapes).issues, [
    { path: "", code: "required", message: "Value is required", value: null },
  ]);
  assert.deepEqual(validate(send.input, [], ChatContract.shapes).issues, [
    { path: "", code: "invalid.object.type", message: "Value must be an object", value: [] },
  ]);
  // Coercion like grest: numbers become strings for string fields, and the caller's object is left alone.
  const input = { text: 5, channelId: "general" };
  assert.deepEqual(validate(send.input, input, ChatContract.shapes), {
    value: { text: "5", channelId: "general" },
    issues: [],
  });
  assert.equal(input.text, 5);
  const query = ChatContract.connect.query;
  assert.deepEqual(validate(query, { name: "x".repeat(33) }, ChatContract.shapes).issues, [
    {
      path: "name",
      code: "invalid.string.maxLength",
      message: "Value must be at most 32 characters",
      params: { max: 32 },
      value: "x".repeat(33),
    },
  ]);
  assert.deepEqual(validate(query, {}, ChatContract.shapes).issues, []);
  const message = ChatContract.serverToClient.newMessage.input;
  assert.deepEqual(
    validate(message, { id: "m1", text: "t", senderId: "u", timestamp: "12" }, ChatContract.shapes).value.timestamp,
    12,
  );
  assert.deepEqual(
    validate(message, { id: "m1", text: "t", senderId: "u", timestamp: -1.5 }, ChatContract.shapes).issues.map(
      (i) => i.code,
    ),
    ["invalid.number.integer", "invalid.number.min"],
  );
});

const shapes = {
  Tree: {
    kind: "object",
    fields: [
      { name: "label", shape: { kind: "string" }, rules: { minLength: 2, maxLength: 3 } },
      { name: "children", shape: { kind: "array", item: { kind: "ref", name: "Tree" } }, rules: { maxLength: 2 } },
      { name: "color", shape: { kind: "optional", inner: { kind: "literal", values: ["red", "green"] } } },
      { name: "flag", shape: { kind: "boolean" }, hasDefault: true },
      { name: "tags", shape: { kind: "record", item: { kind: "number", integer: true, min: 0, max: 255 } } },
    ],
  },
};
const tree = { kind: "ref", name: "Tree" };

test("validation walks refs, arrays, records, literals, defaults and length rules", () => {
  const ok = validate(tree, { label: "ab", children: [{ label: "cd", children: [], tags: {} }], tags: { a: "7" }, flag: null }, shapes);
  assert.deepEqual(ok.issues, []);
  assert.deepEqual(ok.value, { label: "ab", children: [{ label: "cd", children: [], tags: {} }], tags: { a: 7 } });
  const bad = validate(
    tree,
    { label: "a", children: [{ label: "abcd", children: [], color: "blue", tags: { x: 256 } }], tags: [], flag: "yes" },
    shapes,
  );
  assert.deepEqual(
    bad.issues.map((i) => [i.path, i.code]),
    [
      ["label", "invalid.string.range"],
      ["children.0.label", "invalid.string.range"],
      ["children.0.color", "invalid.literal.invalid"],
      ["children.0.tags.x", "invalid.number.range"],
      ["flag", "invalid.boolean.type"],
      ["tags", "invalid.record.type"],
    ],
  );
  assert.deepEqual(bad.issues[2].params, { expected: "red, green" });
  // A length issue replaces the elements' issues.
  const long = validate(tree, { label: "ab", children: [{}, {}, {}], tags: {} }, shapes);
  assert.deepEqual(
    long.issues.map((i) => [i.path, i.code, i.params]),
    [["children", "invalid.array.maxLength", { max: 2 }]],
  );
  assert.equal(validate({ kind: "boolean" }, "0").value, false);
  assert.deepEqual(validate({ kind: "number", integer: false }, "abc").issues[0].code, "invalid.number.type");
  assert.throws(() => validate({ kind: "ref", name: "Nope" }, 1), /unknown shape "Nope"/);
});

test("URLs: same-origin base, trailing slashes, http to ws, no empty query", () => {
  assert.equal(buildUrl("ws://h:1/", "ws/chat", {}), "ws://h:1/ws/chat");
  assert.equal(buildUrl("https://h", "/ws/chat", { name: "a b", n: 2, gone: undefined, nil: null }), "wss://h/ws/chat?name=a+b&n=2");
  assert.equal(buildUrl("http://h", "x", { tag: ["a", "b"] }), "ws://h/x?tag=a&tag=b");
});

test("backoff doubles up to the cap, with a random part of the delay", () => {
  const none = () => 0;
  const all = () => 1;
  assert.deepEqual([0, 1, 2, 3].map((a) => backoffDelay(a, {}, none)), [500, 1000, 2000, 4000]);
  assert.equal(backoffDelay(20, {}, none), 30_000);
  assert.equal(backoffDelay(1, {}, all), 500);
  assert.equal(backoffDelay(1, { jitter: 0 }, all), 1000);
  for (let i = 0; i < 50; i++) {
    const d = backoffDelay(3);
    assert.ok(d >= 2000 && d <= 4000, `${d}`);
  }
});

test("terminal errors are not retried by default", () => {
  for (const type of ["NOT_AUTHORIZED", "FORBIDDEN", "VALIDATION_ERROR"]) {
    assert.equal(defaultShouldRetry(new GrestError(type)), false, type);
  }
  assert.equal(defaultShouldRetry(new GrestError("SERVER_ERROR")), true);
  assert.equal(defaultShouldRetry(new Error("network")), true);
});
