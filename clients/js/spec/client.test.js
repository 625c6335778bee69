// The library against a live server: sign-up, calls and typed errors, connect refusals, live events, the stream
// rule (a hole is synced), and a reconnect after the access token expired with messages missed meanwhile.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import { ConnectNowError, createClient } from "../index.js";
import { PASSWORD, TestServer, sleep, uniqueName } from "./live-server.js";

const TOKEN_TTL_SECONDS = 30; // the server's minimum, so the expiry test waits as little as it can
// Past two changed messages `sync` answers recovered:false, so the reconnect test pages the REST cursor.
const SYNC_MAX_MESSAGES = 2;

let server;
before(async () => {
  server = await TestServer.start({
    CONNECTNOW_ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
    CONNECTNOW_SYNC_MAX_MESSAGES: String(SYNC_MAX_MESSAGES),
  });
});
after(async () => {
  await server?.down();
});

async function signUp(name, options) {
  const client = createClient(server.url, options);
  const username = uniqueName(name);
  await client.register({ email: `${username}@example.com`, username, displayName: name, password: PASSWORD });
  await client.connect();
  return client;
}

/** Wait until `check()` is truthy (the library works asynchronously), failing after `ms`. */
async function until(check, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Bob owns a public workspace that Alice joins; both follow #general. */
async function twoInGeneral() {
  const [alice, bob] = await Promise.all([signUp("alice"), signUp("bob")]);
  const workspace = await bob.call("workspace:create", { name: uniqueName("ws"), isPublic: true });
  const invite = await bob.call("invite:create", { workspaceId: workspace.id });
  await alice.call("workspace:joinByCode", { code: invite.code });
  const [general] = await bob.call("channel:list", { workspaceId: workspace.id });
  const a = alice.channel(general.id);
  const b = bob.channel(general.id);
  await Promise.all([a.loadLatest(), b.loadLatest()]);
  return { alice, bob, a, b, workspace, general };
}

const contents = (conversation) => conversation.list((m) => !m.pending).map((m) => m.content);

test("calls resolve with data and reject with a ConnectNowError carrying the code", async () => {
  const alice = await signUp("carol");
  try {
    const ws = await alice.call("workspace:create", { name: uniqueName("w") });
    assert.equal(ws.myRole, "OWNER");
    await assert.rejects(alice.call("channel:get", { channelId: "0".repeat(24) }), (err) => {
      assert.ok(err instanceof ConnectNowError);
      assert.equal(err.code, "NOT_FOUND");
      assert.equal(err.retryable, false);
      return true;
    });
    await assert.rejects(alice.rest("GET", `/channels/${"0".repeat(24)}`), (err) => err.code === "NOT_FOUND" && err.status === 404);
  } finally {
    alice.disconnect();
  }
});

test("a refused connect reports the code from err.message and err.data", async () => {
  const stranger = createClient(server.url, {
    tokens: { accessToken: "cna_not-a-real-token", refreshToken: "cnr_nope", expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
  });
  const failed = stranger.once("error");
  // The refresh that follows a token refusal is refused too, which signs the client out.
  const signedOut = stranger.once("signedout");
  await assert.rejects(stranger.connect(), (err) => err instanceof ConnectNowError && err.code === "AUTH_INVALID_TOKEN");
  assert.ok((await Promise.race([failed, signedOut])) !== undefined);
  assert.equal(stranger.tokens, null);
  stranger.disconnect();
});

test("what socket.io-client itself sees on a refusal: the code as err.message, the error as err.data", async () => {
  const socket = io(server.url, { transports: ["websocket"], reconnection: false, auth: { token: "cna_expired-or-unknown" } });
  const err = await new Promise((resolve) => socket.once("connect_error", resolve));
  socket.disconnect();
  assert.equal(err.message, "AUTH_INVALID_TOKEN");
  assert.equal(err.data.code, "AUTH_INVALID_TOKEN");
  assert.equal(err.data.retryable, false);
  assert.equal(typeof err.data.message, "string");
});

test("live messages, optimistic sends, edits, reactions and typing between two users", async () => {
  const { alice, bob, a, b } = await twoInGeneral();
  try {
    const states = [];
    a.on("message", (m, source) => states.push([m.clientMsgId, m.pending === true, source]));
    const sent = await a.send("hello bob", { clientMsgId: "js-test-1" });
    assert.deepEqual(states[0], ["js-test-1", true, "pending"]);
    assert.ok(!a.messages.has("pending:js-test-1") && a.messages.get(sent.id).content === "hello bob");
    await until(() => contents(b).includes("hello bob"), "bob to see alice's message");
    // A resend with the same clientMsgId is the same message.
    const again = await a.send("hello bob", { clientMsgId: "js-test-1" });
    assert.equal(again.id, sent.id);

    await b.react(sent.id, "👍");
    await until(() => a.messages.get(sent.id).reactions?.[0]?.count === 1, "alice to see the reaction");
    await a.edit(sent.id, "hello bob (edited)");
    await until(() => b.messages.get(sent.id)?.isEdited, "bob to see the edit");

    const typing = b.once("typing", (typers) => typers.has(alice.user.id));
    await a.startTyping();
    await typing;
    assert.equal(a.lastEventSeq, b.lastEventSeq);
    assert.equal(a.ahead.size, 0);
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});

test("a hole in eventSeq that does not fill is synced from the last contiguous one", async () => {
  const { alice, bob, a, b } = await twoInGeneral();
  try {
    // Lose the next live event on its way to Alice, as a broken network path would.
    const deliver = a._onEvent.bind(a);
    let dropped = 0;
    a._onEvent = (event, data) => (event === "message:new" && dropped++ === 0 ? undefined : deliver(event, data));
    const sources = new Map();
    a.on("message", (m, source) => sources.set(m.id, source));
    const lost = await b.send("lost on the way");
    const next = await b.send("arrives live");
    await until(() => sources.get(next.id) === "live", "the second message live");
    // The hole (the first message's eventSeq) does not fill: after a short wait the library syncs by itself.
    await until(() => sources.get(lost.id) === "sync", "the lost message through sync");
    assert.equal(a.messages.get(lost.id).content, "lost on the way");
    assert.equal(a.ahead.size, 0);
    assert.ok(a.lastEventSeq >= next.lastEventSeq);
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});

test("after the token expired and the connection was lost, the client refreshes, reconnects and pages what it missed", async () => {
  const { alice, bob, a } = await twoInGeneral();
  try {
    const before = await bob.channel(a.id).send("before the cut");
    await until(() => a.messages.has(before.id), "the live message");
    // Cut Alice off and keep her off: socket.io would otherwise reconnect by itself.
    alice.socket.io.reconnection(false);
    alice.socket.io.engine.close();
    await until(() => alice.state === "reconnecting", "alice to notice the cut");
    const b = bob.channel(a.id);
    const missed = [await b.send("missed 1"), await b.send("missed 2")];
    await b.edit(before.id, "before the cut (edited)");
    await b.delete(missed[0].id);

    // Let Alice's access token expire while she is away (no refresh: the server is down meanwhile).
    const aliceToken = alice.tokens.accessToken;
    await server.down();
    await sleep(Math.max(0, Date.parse(alice.tokens.expiresAt) - Date.now()) + 1_000);
    await server.up();
    const refused = await fetch(`${server.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${aliceToken}` } });
    assert.equal((await refused.json()).error.code, "AUTH_TOKEN_EXPIRED");

    const synced = alice.once("synced");
    const reloaded = a.once("reload");
    alice.socket.io.reconnection(true);
    alice.socket.connect();
    await synced;
    assert.notEqual(alice.tokens.accessToken, aliceToken, "the reconnect used a refreshed token");
    assert.equal(alice.state, "connected");
    assert.equal(a.messages.get(missed[1].id)?.content, "missed 2");
    assert.equal(a.messages.get(missed[0].id)?.isDeleted, true);
    assert.equal(a.messages.get(before.id)?.content, "before the cut (edited)");
    // Three messages changed while away, more than sync sends at once: the library paged the cursor and said so.
    const { gap } = await reloaded;
    assert.ok(gap.toEventSeq > gap.fromEventSeq);
    assert.equal(a.lastEventSeq, gap.toEventSeq);
    // And the stream goes on live.
    const after = await bob.channel(a.id).send("after the reconnect");
    await until(() => a.messages.has(after.id), "a live message after the reconnect", 30_000);
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});
