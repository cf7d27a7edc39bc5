// Parses every committed AsyncAPI document (`*.json` beside this file, written by the Rust test
// `tests/tests/asyncapi.rs`) with the AsyncAPI parser, and fails on any diagnostic of severity error or warning.
// Every diagnostic is printed; information and hints (such as a newer AsyncAPI version existing) do not fail.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { DiagnosticSeverity, Parser } from "@asyncapi/parser";

const dir = fileURLToPath(new URL(".", import.meta.url));
const documents = readdirSync(dir).filter((name) => name.endsWith(".json") && !name.startsWith("package"));

test("the committed documents are there", () => {
  assert.deepEqual(documents.sort(), ["chat.json", "everything.json"]);
});

for (const name of documents) {
  test(`${name} parses without errors or warnings`, async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(`${dir}/${name}`, "utf8"));
    const failing = [];
    for (const diagnostic of diagnostics) {
      const severity = DiagnosticSeverity[diagnostic.severity] ?? diagnostic.severity;
      const line = `${name}: ${severity} ${diagnostic.code} at ${diagnostic.path.join(".") || "(root)"}: ${diagnostic.message}`;
      console.log(line);
      if (diagnostic.severity === DiagnosticSeverity.Error || diagnostic.severity === DiagnosticSeverity.Warning) {
        failing.push(line);
      }
    }
    assert.deepEqual(failing, [], "the parser reported errors or warnings");
    assert.ok(document, "the parser returned a document");
    assert.equal(document.version(), "3.0.0");
    assert.ok(document.channels().length > 0, "channels");
    assert.ok(document.operations().length > 0, "operations");
  });
}
