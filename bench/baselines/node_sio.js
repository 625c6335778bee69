// Baseline (c): a Node.js Socket.IO 4 server doing what bare_sio.py does (no auth, no storage).
// Run by the bench after `npm install socket.io@4` in a temporary directory (NODE_PATH points there).
const { Server } = require("socket.io");
const port = parseInt(process.argv[2], 10);
const io = new Server(port, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
io.on("connection", (socket) => {
  const room = socket.handshake.auth && socket.handshake.auth.room;
  if (typeof room === "string") socket.join(room);
  socket.on("send", (data) => io.to(data.channelId).emit("message:new", data));
});
console.log("ready");
