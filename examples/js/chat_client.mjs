// ConnectNow example client (Node 18+): log in, join a channel, send, react, read history, and follow the
// channel's event stream by the client rule (event_stream.mjs; docs/PROTOCOL.md, "Event streams").
// Settings come from the environment; see examples/README.md.
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import { EventStream } from "./event_stream.mjs";

const ACK_TIMEOUT_MS = 10_000;
const STREAM_WAIT_MS = 10_000;
const CHANNEL_EVENTS = new Set(["message:new", "message:updated", "message:deleted", "message:pinned",
  "message:unpinned", "reaction:added", "reaction:removed", "thread:updated"]);

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
}

async function login(baseUrl, loginName, password) {
  const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ login: loginName, password }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`login failed: ${body.error?.code} ${body.error?.message}`);
  return body;
}

function connect(baseUrl, token) {
  // The token goes in the Socket.IO auth payload, never in the URL.
  const socket = io(baseUrl, { auth: { token }, transports: ["websocket"], reconnection: false });
  socket.onAny((event, data) => console.error(`event ${event} ${JSON.stringify(data)}`));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`connect refused: ${err.message}`)));
  });
}

// Every client-to-server event is acknowledged with {ok, data} or {ok: false, error}.
async function call(socket, event, payload, { allow = [] } = {}) {
  const answer = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  if (answer.ok) return answer.data;
  if (allow.includes(answer.error.code)) return null;
  throw new Error(`${event}: ${answer.error.code} ${answer.error.message}`);
}

async function main() {
  const baseUrl = env("CONNECTNOW_URL");
  const workspaceId = env("CN_WORKSPACE_ID");
  const channelId = env("CN_CHANNEL_ID");
  const tokens = await login(baseUrl, env("CN_LOGIN"), env("CN_PASSWORD"));
  const socket = await connect(baseUrl, tokens.accessToken);
  const stream = new EventStream();
  const applied = []; // the eventSeqs this client applied, in order
  socket.onAny((event, data) => {
    if (CHANNEL_EVENTS.has(event) && data?.channelId === channelId) {
      for (const e of stream.onEvent(data)) applied.push(e.eventSeq);
    }
  });
  const sync = async () => {
    const [result] = await call(socket, "sync", {
      conversations: [{ kind: "channel", id: channelId, lastEventSeq: stream.mark }],
    });
    const [, events] = stream.onSync(result);
    for (const e of events) applied.push(e.eventSeq);
  };
  // Wait until every change up to eventSeq is applied, syncing over any hole.
  const caughtUp = async (eventSeq) => {
    const deadline = Date.now() + STREAM_WAIT_MS;
    while (stream.mark < eventSeq) {
      if (Date.now() > deadline) throw new Error(`the channel's events did not arrive up to ${eventSeq}`);
      if (stream.needsSync()) await sync();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  try {
    await call(socket, "workspace:join", { workspaceId }, { allow: ["ALREADY_MEMBER"] });
    await call(socket, "channel:join", { channelId }, { allow: ["ALREADY_MEMBER"] });
    await sync(); // the starting mark: the channel's latest eventSeq
    const sent = await call(socket, "message:send", {
      channelId,
      content: env("CN_MESSAGE", "hello from the JavaScript example"),
      clientMsgId: `js-${randomUUID()}`,
    });
    const reactions = await call(socket, "reaction:add", { messageId: sent.message.id, emoji: "👍" });
    await caughtUp(sent.message.lastEventSeq + 1); // our message and our reaction, in order
    const history = await call(socket, "message:history", { channelId, limit: 20 });
    console.log(
      JSON.stringify({
        client: "javascript",
        userId: tokens.user.id,
        messageId: sent.message.id,
        seq: sent.message.seq,
        eventSeq: sent.message.lastEventSeq,
        mark: stream.mark,
        applied,
        reactions,
        history: history.map((m) => ({ id: m.id, seq: m.seq, content: m.content, userId: m.userId })),
      }),
    );
  } finally {
    socket.disconnect();
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
