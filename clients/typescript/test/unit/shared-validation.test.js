// The validator against the Rust walk, case by case: test/shared/validation-cases.json holds what the Rust side
// makes of each input (coerced value and issues) for the shapes of the generated `Shapes` contract
// (tests/tests/validation.rs writes both and checks they are current).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { validate } from "../../src/index.js";
import { ShapesContract } from "../shared/shapes-contract.js";

const { cases } = JSON.parse(readFileSync(new URL("../shared/validation-cases.json", import.meta.url), "utf8"));

test("the shared table covers every union tagging, tuples, flatten, patterns and formats", () => {
  const codes = new Set(cases.flatMap((c) => c.issues.map((i) => i.code)));
  for (const code of [
    "invalid.dunion.notObject",
    "invalid.dunion.missingDiscriminator",
    "invalid.dunion.unknownVariant",
    "invalid.union.invalid",
    "invalid.tuple.type",
    "invalid.tuple.length",
    "invalid.string.pattern",
    "invalid.number.multipleOf",
    "invalid.string.email",
    "invalid.string.url",
    "invalid.string.uuid",
    "invalid.string.date",
    "invalid.string.dateTime",
    "invalid.string.ip",
    "invalid.string.ipv4",
    "invalid.string.ipv6",
  ]) {
    assert.ok(codes.has(code), code);
  }
});

for (const [i, { method, input, value, issues }] of cases.entries()) {
  test(`case ${i}: ${method} ${JSON.stringify(input)}`, () => {
    const shape = ShapesContract.clientToServer[method].input;
    assert.deepEqual(validate(shape, input, ShapesContract.shapes), { value, issues });
  });
}

test("an unknown tagging is a descriptor error", () => {
  assert.throws(() => validate({ kind: "union", tagging: "sideways", variants: [] }, 1), /unknown union tagging/);
});

test("a pattern is compiled once and matches like RegExp.test", () => {
  const shape = { kind: "tuple", items: [{ shape: { kind: "string" }, rules: { pattern: "\\d{2}" } }] };
  assert.deepEqual(validate(shape, ["a12b"]).issues, []);
  assert.deepEqual(validate(shape, [7]).issues, [
    { path: "0", code: "invalid.string.pattern", message: "Value must match the pattern \\d{2}", params: { pattern: "\\d{2}" }, value: "7" },
  ]);
});
