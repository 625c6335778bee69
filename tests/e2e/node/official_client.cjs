// Drives ConnectNow with the official socket.io-client 4 (tests/e2e/test_node_client.py).
// Usage: node official_client.cjs <url> <token> <channelId> <polling|websocket|default> <sends> <expected>
// Prints "connected" once the namespace is connected, then one JSON line with what it saw, and exits.
"use strict";
const { io } = require("socket.io-client");

const [url, token, channelId, mode, sendsArg, expectedArg] = process.argv.slice(2);
const sends = Number(sendsArg);
const expected = Number(expectedArg);
const options = { auth: { token }, reconnection: false, timeout: 10000 };
if (mode === "polling") options.transports = ["polling"];
if (mode === "websocket") options.transports = ["websocket"];

const socket = io(url, options);
const seqs = [];
const failures = [];
let acked = 0;
let upgraded = false;
let finished = false;

function finish(code) {
  if (finished) return;
  finished = true;
  const transport = socket.io.engine ? socket.io.engine.transport.name : null;
  process.stdout.write(JSON.stringify({ seqs, acked, upgraded, transport, failures }) + "\n");
  socket.disconnect();
  setTimeout(() => process.exit(code), 50);
}

function maybeDone() {
  if (seqs.length >= expected && acked === sends && (mode !== "default" || upgraded)) finish(0);
}

socket.io.on("open", () => {
  socket.io.engine.on("upgrade", () => {
    upgraded = true;
    maybeDone();
  });
});
socket.on("connect_error", (err) => {
  failures.push(`connect_error: ${err.message}`);
  finish(1);
});
socket.on("disconnect", (reason) => {
  if (!finished) {
    failures.push(`disconnect: ${reason}`);
    finish(1);
  }
});
socket.on("message:new", (data) => {
  if (data.channelId === channelId) {
    seqs.push(data.seq);
    maybeDone();
  }
});
socket.on("connect", () => {
  process.stdout.write("connected\n");
  for (let i = 0; i < sends; i++) {
    const body = { channelId, content: `node ${mode} ${i}`, clientMsgId: `node-${mode}-${i}` };
    socket.emit("message:send", body, (answer) => {
      if (answer && answer.ok) acked += 1;
      else failures.push(`send ${i}: ${JSON.stringify(answer)}`);
      maybeDone();
    });
  }
  maybeDone();
});
setTimeout(() => {
  failures.push("timeout");
  finish(1);
}, 30000);
