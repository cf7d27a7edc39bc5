// The package as users get it: `npm pack` (which builds the CommonJS copy), installed from the tarball into a fresh
// `npm init -y` project (CommonJS by default), then used from an ES module (`import`) and a CommonJS script
// (`require`) against the real chat server, with the contract files grest-ws-typegen generates; and the typings
// checked for both module kinds with `tsc --module nodenext`.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { ROOT, buildChat, freePort, startChat } from "../chat-server.js";

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURES = join(PACKAGE, "test/pack/project");
const GENERATED = join(ROOT, "examples/chat/static");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
// Node 20 has a global WebSocket only behind this flag (22+ has it by default).
const NODE_FLAGS = typeof globalThis.WebSocket === "undefined" ? ["--experimental-websocket", "--no-warnings"] : [];

let temp;
let project;
let server;
let url;

/** Runs a command to its end and returns its output; a failure reports what it printed. */
function run(command, args, cwd, env = {}) {
  try {
    return execFileSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8" });
  } catch (error) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${error.stdout}${error.stderr}`);
  }
}

before(async () => {
  buildChat();
  const port = await freePort();
  url = `ws://127.0.0.1:${port}`;
  server = await startChat(port);
  temp = mkdtempSync(join(tmpdir(), "grest-ws-pack-"));
  project = join(temp, "app");
  mkdirSync(project);
});

after(() => {
  server?.child.kill("SIGKILL");
  if (temp) rmSync(temp, { recursive: true, force: true });
});

test("npm pack builds a tarball with the ES modules, the CommonJS copy and both typings", () => {
  const [packed] = JSON.parse(run(NPM, ["pack", "--json", "--pack-destination", temp], PACKAGE));
  const files = packed.files.map((f) => f.path).sort();
  for (const file of ["src/index.js", "dist/index.cjs", "dist/index.d.mts", "dist/index.d.cts", "package.json"]) {
    assert.ok(files.includes(file), `${file} is in the tarball`);
  }
  assert.deepEqual(
    files.filter((f) => !/^(src|dist)\//.test(f)),
    ["LICENSE-APACHE", "LICENSE-MIT", "README.md", "package.json"],
    "nothing but the package and its licenses",
  );
  run(NPM, ["init", "-y"], project);
  const { type } = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
  assert.notEqual(type, "module", "a CommonJS project, as npm init makes it");
  run(NPM, ["install", "--offline", "--no-audit", "--no-fund", join(temp, packed.filename)], project);
  for (const file of ["chat-contract.ts", "chat-contract.js", "chat-contract.cjs"]) {
    copyFileSync(join(GENERATED, file), join(project, file));
  }
  for (const file of ["esm.mjs", "cjs.js", "types.mts", "types.cts"]) {
    copyFileSync(join(FIXTURES, file), join(project, file));
  }
});

test("import: connects to the chat server and makes typed calls", () => {
  const seen = JSON.parse(run(process.execPath, [...NODE_FLAGS, "esm.mjs"], project, { CHAT_URL: url }));
  assert.deepEqual(seen, { sent: true, invalid: "VALIDATION_ERROR", isGrestError: true });
});

test("require: connects, receives the history the import script left, makes typed calls", () => {
  const seen = JSON.parse(run(process.execPath, [...NODE_FLAGS, "cjs.js"], project, { CHAT_URL: url }));
  assert.deepEqual(seen, {
    history: ["esm: hello from import"],
    sent: true,
    invalid: "VALIDATION_ERROR",
    isGrestError: true,
  });
});

test("the typings resolve for import and require (tsc --module nodenext)", () => {
  const tsc = join(PACKAGE, "node_modules/typescript/bin/tsc");
  const args = ["--noEmit", "--strict", "--module", "nodenext", "--target", "es2022", "--lib", "es2022,dom"];
  run(process.execPath, [tsc, ...args, "types.mts", "types.cts"], project);
  const resolution = run(process.execPath, [tsc, ...args, "--traceResolution", "types.mts", "types.cts"], project);
  // One set of declarations for both (a contract typed in a CommonJS file types an ES module's client).
  assert.match(resolution, /'@grest-ws\/client' was successfully resolved to '[^']*\/dist\/index\.d\.mts'/);
  assert.match(resolution, /'@grest-ws\/client' was successfully resolved to '[^']*\/dist\/index\.d\.cts'/);
});
