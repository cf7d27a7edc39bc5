// The chat page: plain ES modules, no build step. The client is @grest-ws/client (served at /client/), the
// contract descriptor is generated from the Rust contract (`cargo run -p chat --bin chat-typegen`).

import { createClient } from "/client/index.js";
import { ChatContract } from "/chat-contract.js";

const $ = (id) => document.getElementById(id);
const STATE_TEXT = {
  idle: "not connected",
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  closed: "disconnected",
};

let client = null;
let myName = "";

/** Shows the connection state; the send form works only while connected, the online count only means then. */
function showState(state) {
  $("state").dataset.state = state;
  $("state").textContent = STATE_TEXT[state] ?? state;
  const live = state === "connected";
  $("text").disabled = !live;
  $("send").disabled = !live;
  if (!live) $("online").hidden = true;
}

function showOnline({ count }) {
  $("online").textContent = `${count} online`;
  $("online").hidden = false;
}

/** While reconnecting: which attempt is under way (the failures themselves are the client's business). */
function showReconnecting({ attempt }) {
  $("state").textContent = `${STATE_TEXT.reconnecting} (attempt ${attempt})`;
}

/** Shows an error under a field (`null` clears it). */
function fieldError(inputId, errorId, text) {
  $(errorId).textContent = text ?? "";
  $(errorId).hidden = !text;
  $(inputId).setAttribute("aria-invalid", text ? "true" : "false");
}

/**
 * A readable line for a failed call: every validation issue, a lost connection in words, or the error's display
 * message (the client's own, like "Not connected (reconnecting…)", are written for end users).
 */
function describe(error) {
  if (error.type === "VALIDATION_ERROR" && Array.isArray(error.data) && error.data.length > 0) {
    return error.data.map((issue) => issue.message).join("; ");
  }
  if (error.reason === "socket-closed") return "Connection lost before the server answered";
  return error.context?.displayMessage ?? error.type ?? String(error);
}

const pad = (n) => String(n).padStart(2, "0");

function messageItem(message) {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  if (message.senderId === myName) item.classList.add("mine");
  const sent = new Date(message.timestamp);
  const time = document.createElement("time");
  time.dateTime = sent.toISOString();
  time.textContent = `${pad(sent.getHours())}:${pad(sent.getMinutes())}`;
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = message.senderId;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.text;
  item.append(time, sender, text);
  return item;
}

/** Runs `change` on the list and keeps it scrolled to the end if it was there. */
function updateList(change) {
  const list = $("messages");
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  change(list);
  if (atEnd) list.scrollTop = list.scrollHeight;
}

/** Every (re)connection starts with the server's history: it replaces the list. */
function showHistory({ messages }) {
  updateList((list) => list.replaceChildren(...messages.map(messageItem)));
}

function addMessage(message) {
  updateList((list) => {
    if (!list.querySelector(`li[data-id="${CSS.escape(message.id)}"]`)) list.append(messageItem(message));
  });
}

$("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("name").value.trim();
  fieldError("name", "name-error", null);
  client?.close();
  client = createClient(ChatContract, {
    url: "",
    query: { name },
    reconnect: { maxDelayMs: 5000 },
  });
  client.onStateChange(showState);
  client.onReconnecting(showReconnecting);
  client.onClose((reason) => {
    if (reason !== "manual") showState("closed");
  });
  myName = name;
  try {
    await client.connect(({ incoming }) => {
      incoming.on({
        history: showHistory,
        newMessage: addMessage,
        online: showOnline,
        // Presence probe: this page is here.
        areYouThere: () => true,
      });
    });
  } catch (error) {
    fieldError("name", "name-error", describe(error));
    return;
  }
  $("me-name").textContent = name;
  $("join-form").hidden = true;
  $("chat").hidden = false;
  $("text").focus();
});

$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = { text: $("text").value, channelId: "general" };
  const result = await client.outgoing.sendMessage(message, { timeout: 10_000 }).asResult();
  if (result.success) {
    fieldError("text", "send-error", null);
    $("text").value = "";
  } else {
    fieldError("text", "send-error", describe(result));
  }
});
