// ES module use of the installed package: `import`, the generated CommonJS contract, a typed call to the real
// chat server, per-call options. Prints what it saw as JSON.

import { GrestError, createClient } from "@grest-ws/client";

import { ChatContract } from "./chat-contract.cjs";

const client = createClient(ChatContract, { url: process.env.CHAT_URL, query: { name: "esm" }, reconnect: false });
await client.connect(({ incoming }) => incoming.on({ history: () => {}, online: () => {}, areYouThere: () => true }));
const reply = await client.outgoing.sendMessage(
  { text: "hello from import", channelId: "general" },
  { timeout: 10_000, signal: new AbortController().signal },
);
const invalid = await client.outgoing.sendMessage({ text: "", channelId: "general" }).asResult();
await client.disconnect();
console.log(
  JSON.stringify({ sent: reply.success, invalid: invalid.type, isGrestError: invalid instanceof GrestError }),
);
