// Type check of a CommonJS consumer (`tsc --module nodenext`): the "require" typings and the generated `.ts`.

import { createClient, type GrestError } from "@grest-ws/client";

import { ChatContract, type SendMessageResponse } from "./chat-contract.js";

const client = createClient(ChatContract, { url: "ws://127.0.0.1:1", query: { name: "cjs" } });
export const reply: Promise<SendMessageResponse> = client.outgoing
  .sendMessage({ text: "hi", channelId: "general" }, { timeout: 5000 })
  .then((r) => r);
export function why(error: GrestError): string | undefined {
  return error.reason;
}
client.onReconnecting(({ attempt, delayMs }) => void `${attempt} ${delayMs}`);
// @ts-expect-error: the query is typed from the contract's connect input
createClient(ChatContract, { query: { nickname: "cjs" } });
