// The operators' dashboard: sign in through the REST API, then listen over Socket.IO (admins only).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const workers = new Map();
  const WORKER_STALE_MS = 15000;

  function cell(text) { const td = document.createElement("td"); td.textContent = String(text); return td; }
  function row(values) { const tr = document.createElement("tr"); values.forEach((v) => tr.appendChild(cell(v))); return tr; }

  function renderWorkers() {
    const body = $("workers"); body.replaceChildren();
    let sockets = 0, rate = 0; const now = Date.now();
    for (const [id, w] of workers) {
      if (now - w.seen > WORKER_STALE_MS) { workers.delete(id); continue; }
      sockets += w.sockets; rate += w.messagesPerSecond;
      body.appendChild(row([id, w.sockets, w.messagesPerSecond, new Date(w.seen).toLocaleTimeString()]));
    }
    $("total-sockets").textContent = String(sockets);
    $("total-rate").textContent = rate.toFixed(2);
  }

  function renderWorkspaces(list) {
    const body = $("workspaces"); body.replaceChildren();
    for (const w of list) {
      const tr = row([w.name, w.members, w.online, w.away, w.busy]);
      tr.dataset.workspace = w.workspaceId;
      body.appendChild(tr);
    }
  }

  function addRecent(entry) {
    const body = $("recent");
    body.insertBefore(row([new Date(entry.at).toLocaleTimeString(), entry.event, entry.username, entry.worker]), body.firstChild);
    while (body.children.length > 50) body.removeChild(body.lastChild);
  }

  function updateWorker(w) { workers.set(w.worker, { ...w, seen: Date.now() }); renderWorkers(); }

  function connect(token) {
    $("login").hidden = true; $("panel").hidden = false;
    const socket = io({ auth: { token }, transports: ["websocket"] });
    socket.on("connect", () => {
      socket.emit("dashboard:subscribe", null, (ack) => {
        if (!ack || !ack.ok) { $("status").textContent = "refused: " + (ack ? ack.error.code : "no answer"); return; }
        $("status").textContent = "live";
        updateWorker(ack.data.worker);
        renderWorkspaces(ack.data.workspaces);
        ack.data.recent.forEach(addRecent);
      });
    });
    socket.on("connect_error", (err) => { $("status").textContent = "cannot connect: " + err.message; });
    socket.on("disconnect", () => { $("status").textContent = "reconnecting…"; });
    socket.on("dashboard:worker", updateWorker);
    socket.on("dashboard:presence", renderWorkspaces);
    socket.on("dashboard:connection", addRecent);
  }

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    const response = await fetch("/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: $("login-name").value, password: $("login-password").value }),
    });
    const body = await response.json();
    if (!response.ok) { $("login-error").textContent = body.error.message; return; }
    if (!body.user.isAdmin) { $("login-error").textContent = "Only server administrators may open the dashboard."; return; }
    connect(body.accessToken);
  });
})();
