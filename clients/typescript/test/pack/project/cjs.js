// CommonJS use of the installed package (a `.js` file of a project without "type": "module"): `require`, the
// generated CommonJS contract, the history the ES module script left on the real chat server. Prints what it saw as
// JSON.

const { GrestError, createClient } = require("@grest-ws/client");
const { ChatContract } = require("./chat-contract.cjs");

async function main() {
  const client = createClient(ChatContract, { url: process.env.CHAT_URL, query: { name: "cjs" }, reconnect: false });
  const history = new Promise((resolve) => {
    void client.connect(({ incoming }) =>
      incoming.on({ history: ({ messages }) => resolve(messages), online: () => {}, areYouThere: () => true }),
    );
  });
  const messages = await history;
  await client.connected();
  const reply = await client.outgoing.sendMessage({ text: "hello from require", channelId: "general" });
  const invalid = await client.outgoing.sendMessage({ text: "", channelId: "general" }).asResult();
  await client.disconnect();
  console.log(
    JSON.stringify({
      history: messages.map((m) => `${m.senderId}: ${m.text}`),
      sent: reply.success,
      invalid: invalid.type,
      isGrestError: invalid instanceof GrestError,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
