// Compile-time checks (`npm run typecheck`): the generated chat contract fits the client's types, and the types
// catch what they should. Each `@ts-expect-error` fails the check if the line below it compiles.

import { createClient, GrestError, type ValidationIssue } from "@grest-ws/client";
import {
  ChatContract,
  type History,
  type Message,
  type Online,
  type SendMessageResponse,
} from "../../../../examples/chat/static/chat-contract.js";

const client = createClient(ChatContract, { url: "ws://127.0.0.1:3000", query: { name: "alice" } });

// @ts-expect-error: the query is typed from the contract's connect input
createClient(ChatContract, { query: { nickname: "alice" } });
// @ts-expect-error: static params and beforeConnect are exclusive
createClient(ChatContract, { url: "", beforeConnect: () => ({ url: "" }) });
createClient(ChatContract, { beforeConnect: async () => ({ url: "ws://x", query: { name: "bob" } }) });
// The browser's WebSocket class fits the constructor option.
createClient(ChatContract, { url: "", WebSocket: globalThis.WebSocket, reconnect: { heartbeat: false } });

export async function calls(): Promise<void> {
  const reply: SendMessageResponse = await client.outgoing.sendMessage({ text: "hi", channelId: "general" });
  void reply.messageId;
  // @ts-expect-error: channelId is required
  void client.outgoing.sendMessage({ text: "hi" });
  // @ts-expect-error: ping takes no input
  void client.outgoing.ping({ text: "hi" });
  await client.outgoing.ping();
  // Per-call options: second after the input, first for a method without input.
  const controller = new AbortController();
  await client.outgoing.sendMessage({ text: "hi", channelId: "general" }, { timeout: 5000, signal: controller.signal });
  await client.outgoing.ping({ timeout: 1000 });
  // @ts-expect-error: the timeout is a number of milliseconds
  void client.outgoing.ping({ timeout: "1s" });
  await client.outgoing.markAsRead({ messageId: "m1" });

  const result = await client.outgoing.sendMessage({ text: "", channelId: "general" }).asResult();
  if (result.success) {
    const id: string = result.data.messageId;
    void id;
  } else if (result.type === "VALIDATION_ERROR") {
    const issues: ValidationIssue[] = result.data;
    void issues;
    const status: number = result.statusCode;
    void status;
  } else {
    // Only the declared errors and the always-representable ones remain.
    const type: "SERVER_ERROR" | "PAYLOAD_TOO_LARGE" = result.type;
    void type;
    const ref: string = result.context.ref;
    void ref;
    if (result.reason === "timeout" || result.reason === "aborted") return;
    // @ts-expect-error: not a reason the client fails a call for
    if (result.reason === "offline") return;
  }
  // @ts-expect-error: ROOM_FULL is not an error sendMessage can fail with
  if (!result.success && result.type === "ROOM_FULL") return;
}

client.incoming.on({
  newMessage: (m: Message) => void m.senderId,
  history: (h: History) => void h.messages.map((m) => m.timestamp),
  online: (o: Online) => {
    const count: number = o.count;
    void count;
  },
  areYouThere: async () => true,
});
client.incoming.on({
  // @ts-expect-error: a history push carries messages, not a count
  history: (h) => void h.count,
});
client.incoming.on({
  // @ts-expect-error: areYouThere answers a boolean
  areYouThere: () => "yes",
});
// @ts-expect-error: no such server-to-client method
client.incoming.on({ nope: () => undefined });

void client.connect(({ incoming, isReconnect }) => {
  incoming.on({ typing: (e) => void e.userId });
  void isReconnect;
});
client.onReconnecting(({ attempt, delayMs, error }) => {
  const text: string = `reconnecting (attempt ${attempt}, in ${Math.round(delayMs)} ms)`;
  void text;
  void error;
});
export const ready: Promise<void> = client.connected();
client.onClose((reason) => {
  const r: "manual" | "drop" | "retries-exhausted" | "unrecoverable" = reason;
  void r;
});
const e = new GrestError("VALIDATION_ERROR", { data: [] });
const data: ValidationIssue[] = e.data;
void data;
