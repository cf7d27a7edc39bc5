// Type check of an ES module consumer (`tsc --module nodenext`): the "import" typings and the generated `.ts`.

import { createClient, type GrestError } from "@grest-ws/client";

import { ChatContract, type SendMessageResponse } from "./chat-contract.js";

const client = createClient(ChatContract, { url: "ws://127.0.0.1:1", query: { name: "esm" } });
export const reply: Promise<SendMessageResponse> = client.outgoing
  .sendMessage({ text: "hi", channelId: "general" }, { timeout: 5000, signal: new AbortController().signal })
  .then((r) => r);
export function why(error: GrestError): string | undefined {
  return error.reason;
}
// @ts-expect-error: channelId is required
void client.outgoing.sendMessage({ text: "hi" });
