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

function showState(state) {
  $("state").dataset.state = state;
  $("state").textContent = STATE_TEXT[state] ?? state;
}

/** Shows an error under a field (`null` clears it). */
function fieldError(inputId, errorId, text) {
  $(errorId).textContent = text ?? "";
  $(errorId).hidden = !text;
  $(inputId).setAttribute("aria-invalid", text ? "true" : "false");
}

/** A readable line for a failed call: every validation issue, or the error's display message. */
function describe(error) {
  if (error.type === "VALIDATION_ERROR" && Array.isArray(error.data) && error.data.length > 0) {
    return error.data.map((issue) => issue.message).join("; ");
  }
  return error.context?.displayMessage ?? error.type ?? String(error);
}

function addMessage(message) {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  if (message.senderId === myName) item.classList.add("mine");
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = message.senderId;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.text;
  item.append(sender, text);
  $("messages").append(item);
  item.scrollIntoView({ block: "nearest" });
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
  client.onClose((reason) => {
    if (reason !== "manual") showState("closed");
  });
  try {
    await client.connect(({ incoming }) => {
      incoming.on({
        newMessage: addMessage,
        // Presence probe: this page is here.
        areYouThere: () => true,
      });
    });
  } catch (error) {
    fieldError("name", "name-error", describe(error));
    return;
  }
  myName = name;
  $("me-name").textContent = name;
  $("join-form").hidden = true;
  $("chat").hidden = false;
  $("text").focus();
});

$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await client.outgoing.sendMessage({ text: $("text").value, channelId: "general" }).asResult();
  if (result.success) {
    fieldError("text", "send-error", null);
    $("text").value = "";
  } else {
    fieldError("text", "send-error", describe(result));
  }
});
