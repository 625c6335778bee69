// ConnectNow example client (Node 18+), on the client library in clients/js: log in, join a channel, send,
// react, read history. Settings come from the environment; see examples/README.md.
import { ConnectNowError, createClient } from "@connectnow/client";

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
}

// Joining twice is fine: ALREADY_MEMBER just means we are in.
async function join(client, event, payload) {
  try {
    await client.call(event, payload);
  } catch (err) {
    if (!(err instanceof ConnectNowError && err.code === "ALREADY_MEMBER")) throw err;
  }
}

async function main() {
  const client = createClient(env("CONNECTNOW_URL"));
  const tokens = await client.login(env("CN_LOGIN"), env("CN_PASSWORD"));
  // The library refreshes the token before it expires and before reconnecting, and syncs after a reconnect.
  await client.connect();
  try {
    const channelId = env("CN_CHANNEL_ID");
    await join(client, "workspace:join", { workspaceId: env("CN_WORKSPACE_ID") });
    await join(client, "channel:join", { channelId });
    const chat = client.channel(channelId);
    const applied = []; // the eventSeqs the library applied, in order (its contiguous mark moving up)
    let seen = null;
    chat.on("event", (event, data) => {
      console.error(`event ${event} ${JSON.stringify(data)}`);
      queueMicrotask(() => {
        for (let s = (seen ?? chat.lastEventSeq) + 1; s <= (chat.lastEventSeq ?? 0); s++) applied.push(s);
        seen = chat.lastEventSeq;
      });
    });
    await chat.loadLatest(20);
    seen = chat.lastEventSeq;
    const sent = await chat.send(env("CN_MESSAGE", "hello from the JavaScript example"));
    const eventSeq = sent.lastEventSeq; // the library updates `sent` in place as later events arrive
    const reactions = await chat.react(sent.id, "👍");
    // The library follows the stream rule: wait until our message and our reaction are both applied.
    const deadline = Date.now() + 10_000;
    while ((chat.lastEventSeq ?? 0) < eventSeq + 1) {
      if (Date.now() > deadline) throw new Error(`the channel's events did not arrive up to ${eventSeq + 1}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const history = await client.call("message:history", { channelId, limit: 20 });
    console.log(
      JSON.stringify({
        client: "javascript",
        userId: tokens.user.id,
        messageId: sent.id,
        seq: sent.seq,
        eventSeq,
        mark: chat.lastEventSeq,
        applied,
        reactions,
        history: history.map((m) => ({ id: m.id, seq: m.seq, content: m.content, userId: m.userId })),
      }),
    );
  } finally {
    client.disconnect();
  }
}

main().catch((err) => {
  console.error(err.code ? `${err.code}: ${err.message}` : err.message);
  process.exit(1);
});
