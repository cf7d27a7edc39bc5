// The real Rust chat server for end-to-end tests: built with cargo, started on a free loopback port, killed and
// restarted at will.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Builds the chat binary (`cargo build -p chat --bin chat`). */
export function buildChat() {
  const build = spawnSync("cargo", ["build", "-p", "chat", "--bin", "chat"], { cwd: ROOT, stdio: "inherit" });
  assert.equal(build.status, 0, "cargo build -p chat failed");
}

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the chat server on `port` and waits until `/health` answers. Returns the process and a promise of its
 * exit.
 */
export async function startChat(port) {
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(resolve(ROOT, process.env.CARGO_TARGET_DIR ?? "target", "debug/chat"), ["--addr", `127.0.0.1:${port}`], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  const exited = new Promise((r) => child.once("exit", r));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`chat server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${base}/health`);
      if ((await response.text()) === "ok") return { child, exited };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error("chat server did not come up within 20 s");
    }
    await sleep(50);
  }
}
