// End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against the real
// Rust chat server: two pages chat (with timestamps and an online count), validation errors show inline, presence
// counts the pages, the list scrolls under a header that stays, a reload shows the history, and the pages survive a
// server restart (sending is disabled while they reconnect, which they show with the attempt's number, never the
// attempts' errors). A screenshot lands in <repo>/test-output/.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";
import WebSocket from "ws";

import { createClient } from "../../src/index.js";
import { ChatContract } from "../../../../examples/chat/static/chat-contract.js";
import { ROOT, buildChat, freePort, startChat } from "../chat-server.js";

const OUTPUT = join(ROOT, "test-output");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let port;
let base;
let server;
let context;
let profile;
let alice;
let bob;
const pageErrors = [];

async function presence() {
  const response = await fetch(`${base}/api/presence`);
  return response.json();
}

async function joinAs(page, name) {
  await page.bringToFront();
  await page.goto(base);
  await page.fill("#name", name);
  await page.click("#join");
  await page.waitForSelector('#state[data-state="connected"]');
  await page.waitForSelector("#chat:not([hidden])");
  assert.equal(await page.isHidden("#join-form"), true, "the name form goes away once joined");
}

async function send(page, text) {
  // Both pages share a window; the one in front renders at full speed (Playwright's clicks wait on frames).
  await page.bringToFront();
  await page.fill("#text", text);
  await page.click("#send");
}

/** Waits until the page's online count reads `count`. */
function onlineShown(page, count) {
  return page.waitForSelector(`#online:not([hidden]):text-is("${count} online")`);
}

/** The ids of the listed messages, in order. */
function listedIds(page) {
  return page.$$eval("#messages li", (items) => items.map((item) => item.dataset.id));
}

/** Waits until the page lists a message from `sender` with `text`. */
function messageShown(page, sender, text) {
  return page
    .locator("#messages li", { has: page.locator(".sender", { hasText: sender }) })
    .filter({ has: page.locator(".text", { hasText: text }) })
    .first()
    .waitFor({ timeout: 10_000 });
}

before(async () => {
  buildChat();
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = await startChat(port);
  profile = mkdtempSync(join(tmpdir(), "grest-ws-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
  context.setDefaultTimeout(15_000);
  alice = await context.newPage();
  bob = await context.newPage();
  for (const page of [alice, bob]) page.on("pageerror", (error) => pageErrors.push(error));
});

after(async () => {
  await context?.close();
  server?.child.kill("SIGKILL");
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("two pages chat with each other", async () => {
  await joinAs(alice, "alice");
  await joinAs(bob, "bob");
  assert.equal(await alice.textContent("#state"), "connected");
  await send(alice, "hello from alice");
  await messageShown(alice, "alice", "hello from alice");
  await messageShown(bob, "alice", "hello from alice");
  await send(bob, "hi alice, bob here");
  await messageShown(alice, "bob", "hi alice, bob here");
  assert.equal(await alice.inputValue("#text"), "", "the input clears after a send");
  assert.equal(await alice.locator("#messages li.mine").count(), 1, "alice's own message is marked");
  for (const page of [alice, bob]) await onlineShown(page, 2);
  // Each message shows its local time as HH:MM.
  const times = await alice.$$eval("#messages li time", (items) =>
    items.map((time) => ({ text: time.textContent, at: Date.parse(time.dateTime) })),
  );
  assert.equal(times.length, 2);
  for (const { text, at } of times) {
    const local = new Date(at);
    const expected = `${String(local.getHours()).padStart(2, "0")}:${String(local.getMinutes()).padStart(2, "0")}`;
    assert.equal(text, expected);
    assert.ok(Math.abs(Date.now() - at) < 60_000, "the server's timestamp is now");
  }
  assert.equal(await alice.getAttribute("#text", "maxlength"), "2000");
});

test("an empty message shows the validation error inline and sends nothing", async () => {
  const before = await bob.locator("#messages li").count();
  await send(alice, "");
  await alice.waitForSelector("#send-error:not([hidden])");
  assert.equal(await alice.textContent("#send-error"), "Value must not be empty");
  assert.equal(await alice.getAttribute("#text", "aria-invalid"), "true");
  await send(alice, "not empty");
  await messageShown(bob, "alice", "not empty");
  assert.equal(await alice.isHidden("#send-error"), true, "the error clears after a good send");
  assert.equal(await bob.locator("#messages li").count(), before + 1);
});

test("a name the contract refuses is shown inline before any socket opens", async () => {
  const page = await context.newPage();
  try {
    await page.goto(base);
    await page.fill("#name", "x".repeat(40));
    await page.click("#join");
    await page.waitForSelector("#name-error:not([hidden])");
    assert.equal(await page.textContent("#name-error"), "Value must be at most 32 characters");
    assert.equal(await page.getAttribute("#state", "data-state"), "idle");
  } finally {
    await page.close();
  }
});

test("the pages answer areYouThere: /api/presence counts them", async () => {
  assert.deepEqual(await presence(), { online: 2 });
});

test("the message list scrolls under a header that stays in view", async () => {
  // A third participant, from Node, posts enough to overflow the list.
  const poster = createClient(ChatContract, { url: base.replace("http", "ws"), WebSocket, query: { name: "carol" } });
  await poster.connect();
  try {
    for (let i = 1; i <= 40; i++) await poster.outgoing.sendMessage({ text: `filler ${i}`, channelId: "general" });
  } finally {
    poster.close();
  }
  await alice.bringToFront();
  await messageShown(alice, "carol", "filler 40");
  const layout = await alice.evaluate(() => {
    const list = document.getElementById("messages");
    const header = document.querySelector("header").getBoundingClientRect();
    const form = document.getElementById("send-form").getBoundingClientRect();
    const last = list.lastElementChild.getBoundingClientRect();
    const box = list.getBoundingClientRect();
    return {
      listScrolls: list.scrollHeight > list.clientHeight,
      pageScrolls: document.scrollingElement.scrollHeight > window.innerHeight,
      headerInView: header.top >= 0 && header.bottom <= window.innerHeight,
      formInView: form.top >= 0 && form.bottom <= window.innerHeight,
      lastInView: last.bottom <= box.bottom + 1 && last.top >= box.top,
    };
  });
  assert.deepEqual(layout, {
    listScrolls: true,
    pageScrolls: false,
    headerInView: true,
    formInView: true,
    lastInView: true,
  });
});

test("a reload shows the history once, and the online count follows", async () => {
  const before = await listedIds(alice);
  assert.ok(before.length > 40);
  await alice.reload();
  await onlineShown(bob, 1);
  await joinAs(alice, "alice");
  await alice.waitForFunction((n) => document.querySelectorAll("#messages li").length === n, before.length);
  assert.deepEqual(await listedIds(alice), before, "the same messages, in order, each once");
  assert.equal(await alice.locator("#messages li.mine").count(), 2, "alice's own messages are still marked");
  for (const page of [alice, bob]) await onlineShown(page, 2);
  assert.equal(await alice.isEnabled("#send"), true);
});

test("the pages survive a server restart", async () => {
  server.child.kill("SIGKILL");
  await server.exited;
  for (const page of [alice, bob]) await page.waitForSelector('#state[data-state="reconnecting"]');
  // The attempts go on while the server is away: the page counts them and shows none of their errors.
  await bob.waitForSelector('#state:text-is("reconnecting… (attempt 2)")');
  for (const page of [alice, bob]) {
    assert.match(await page.textContent("#state"), /^reconnecting… \(attempt \d+\)$/);
    const shown = await page.evaluate(() => document.body.innerText);
    assert.doesNotMatch(shown, /WebSocket|code 1006|handshake/i, "no raw connection errors on the page");
    assert.equal(await page.isHidden("#send-error"), true);
  }
  for (const page of [alice, bob]) {
    assert.equal(await page.isDisabled("#send"), true, "no sending while reconnecting");
    assert.equal(await page.isDisabled("#text"), true);
    assert.equal(await page.isHidden("#online"), true, "no stale online count");
  }
  server = await startChat(port);
  for (const page of [alice, bob]) {
    await page.waitForSelector('#state[data-state="connected"]', { timeout: 20_000 });
    assert.equal(await page.textContent("#state"), "connected");
    await page.waitForSelector("#send:enabled");
    assert.equal(await page.isEnabled("#text"), true);
    await onlineShown(page, 2);
  }
  // The restarted server's history is empty, and it replaced the pages' lists.
  for (const page of [alice, bob]) await page.waitForFunction(() => !document.querySelector("#messages li"));
  await send(bob, "still here after the restart");
  await messageShown(alice, "bob", "still here after the restart");
  assert.equal(await alice.locator("#messages li").count(), 1);
  assert.deepEqual(await presence(), { online: 2 });
  mkdirSync(OUTPUT, { recursive: true });
  await alice.screenshot({ path: join(OUTPUT, "chat.png"), fullPage: true });
  assert.deepEqual(pageErrors, []);
});
