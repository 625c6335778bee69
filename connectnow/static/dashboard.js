// The operators' dashboard: sign in through the REST API, then listen over Socket.IO (admins only).
// Runs under a strict Content-Security-Policy: no inline script, no eval; charts are plain SVG.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const WINDOW_S = 15 * 60;
  const WORKER_STALE_MS = 15000;
  const PAGE = 50;
  const COLORS = ["#2f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4"];

  // Each chart: how to read a merged value from one worker's sample, and how to merge workers
  // ("sum" for counts and rates, "max" for latencies: the slowest worker is what an operator needs to see).
  const CHARTS = [
    { id: "sockets", title: "sockets", unit: "", series: [["sockets", "sockets"]], merge: "sum" },
    { id: "connections", title: "connects / disconnects per s", unit: "/s",
      series: [["connects", "connects"], ["disconnects", "disconnects"]], merge: "sum" },
    { id: "messages", title: "messages per s", unit: "/s", series: [["messages", "messages"]], merge: "sum" },
    { id: "fanout", title: "fan-out latency", unit: " ms", series: [["fanoutP50", "p50"], ["fanoutP99", "p99"]], merge: "max" },
    { id: "loop", title: "event-loop lag", unit: " ms", series: [["loopLag", "lag"]], merge: "max" },
    { id: "redis", title: "broker publish / listener lag (p99)", unit: " ms",
      series: [["publishP99", "publish"], ["pubsubLagP99", "listener lag"]], merge: "max" },
    { id: "ratelimited", title: "rate-limit refusals per s", unit: "/s", series: [["rateLimited", "refusals"]], merge: "sum" },
    { id: "errors", title: "errors by code per s", unit: "/s", series: "errors", merge: "sum" },
  ];

  const state = {
    socket: null, interval: 2, history: new Map(), health: new Map(), workers: new Map(),
    workspace: null, workspaces: new Map(), offset: 0, total: 0, pending: null,
  };

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  function row(values) { const tr = el("tr"); values.forEach((v) => tr.appendChild(v instanceof Node ? wrapTd(v) : el("td", v))); return tr; }
  function wrapTd(node) { const td = el("td"); td.appendChild(node); return td; }
  function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }
  function fmt(v) { return v === null || v === undefined ? "—" : (Math.round(v * 100) / 100).toString(); }

  function call(event, payload) {
    return new Promise((resolve) => state.socket.emit(event, payload, (ack) => resolve(ack || { ok: false, error: { code: "NO_ANSWER", message: "no answer" } })));
  }

  // --- charts ------------------------------------------------------------------------------------
  function buildCharts() {
    const box = $("charts"); box.replaceChildren();
    for (const chart of CHARTS) {
      const fig = el("figure", null, { class: "chart", id: "chart-" + chart.id });
      const cap = el("figcaption");
      cap.appendChild(el("span", chart.title));
      cap.appendChild(el("span", "0", { class: "value", id: "value-" + chart.id }));
      fig.appendChild(cap);
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 300 90"); svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("id", "svg-" + chart.id); svg.setAttribute("data-max", "0");
      fig.appendChild(svg);
      fig.appendChild(el("div", null, { class: "legend", id: "legend-" + chart.id }));
      box.appendChild(fig);
    }
  }

  // One merged series per key: time buckets of one interval, summed or maxed over workers.
  function merged(keyOf, how) {
    const buckets = new Map();
    for (const samples of state.history.values()) {
      for (const s of samples) {
        const v = keyOf(s);
        if (v === null || v === undefined) continue;
        const b = Math.round(s.t / state.interval);
        const prev = buckets.get(b);
        buckets.set(b, prev === undefined ? v : how === "max" ? Math.max(prev, v) : prev + v);
      }
    }
    return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, v]) => [b * state.interval, v]);
  }

  function seriesOf(chart) {
    if (chart.series !== "errors") return chart.series.map(([key, label]) => [label, merged((s) => s[key], chart.merge)]);
    const codes = new Set();
    for (const samples of state.history.values()) for (const s of samples) Object.keys(s.errors || {}).forEach((c) => codes.add(c));
    return [...codes].sort().map((code) => [code, merged((s) => (s.errors ? s.errors[code] || 0 : 0), "sum")]);
  }

  // The x axis spans the last 15 minutes, or less while there is less history (a fresh server).
  function windowStart(now) {
    let first = now;
    for (const samples of state.history.values()) if (samples.length && samples[0].t < first) first = samples[0].t;
    return Math.max(now - WINDOW_S, Math.min(first, now - 60 * state.interval));
  }

  function drawChart(chart, now, start) {
    const svg = $("svg-" + chart.id), legend = $("legend-" + chart.id);
    const span = Math.max(now - start, 1);
    const lines = seriesOf(chart);
    let max = 0;
    for (const [, points] of lines) for (const [t, v] of points) if (t >= start && v > max) max = v;
    const top = max > 0 ? max * 1.1 : 1;
    svg.replaceChildren();
    const axis = document.createElementNS(SVG, "line");
    axis.setAttribute("x1", "0"); axis.setAttribute("x2", "300"); axis.setAttribute("y1", "89"); axis.setAttribute("y2", "89");
    axis.setAttribute("class", "axis"); svg.appendChild(axis);
    legend.replaceChildren();
    lines.forEach(([label, points], i) => {
      const color = COLORS[i % COLORS.length];
      const d = points.filter(([t]) => t >= start)
        .map(([t, v], j) => (j ? "L" : "M") + (((t - start) / span) * 300).toFixed(1) + " " + (88 - (v / top) * 84).toFixed(1))
        .join(" ");
      if (d) {
        const path = document.createElementNS(SVG, "path");
        path.setAttribute("d", d); path.setAttribute("class", "line"); path.setAttribute("stroke", color);
        path.setAttribute("data-series", label); svg.appendChild(path);
      }
      const last = points.length ? points[points.length - 1][1] : 0;
      const item = el("span", label + " " + fmt(last) + chart.unit); item.style.color = color;
      legend.appendChild(item);
    });
    svg.setAttribute("data-max", String(max));
    const first = lines.length ? lines[0][1] : [];
    $("value-" + chart.id).textContent = fmt(first.length ? first[first.length - 1][1] : 0) + chart.unit;
  }

  function drawAll() {
    const now = Date.now() / 1000, start = windowStart(now);
    CHARTS.forEach((c) => drawChart(c, now, start));
    $("chart-span").textContent = Math.round((now - start) / 60) + " min";
  }

  function addSample(worker, sample, health) {
    if (!state.history.has(worker)) state.history.set(worker, []);
    const samples = state.history.get(worker);
    if (!samples.length || sample.t > samples[samples.length - 1].t) samples.push(sample);
    const cutoff = Date.now() / 1000 - WINDOW_S;
    while (samples.length && samples[0].t < cutoff) samples.shift();
    if (health && Object.keys(health).length) state.health.set(worker, health);
  }

  // --- workers and their health --------------------------------------------------------------------
  function renderWorkers() {
    const body = $("workers"); body.replaceChildren();
    let sockets = 0, rate = 0; const now = Date.now();
    for (const [id, w] of state.workers) {
      if (now - w.seen > WORKER_STALE_MS) { state.workers.delete(id); continue; }
      sockets += w.sockets; rate += w.messagesPerSecond;
      const health = state.health.get(id);
      const broker = health ? (health.brokerOk ? "ok" : "down") + " (" + health.broker + ")" : "…";
      const tr = row([id, w.sockets, w.messagesPerSecond, broker, new Date(w.seen).toLocaleTimeString()]);
      tr.dataset.worker = id; tr.className = "clickable";
      tr.addEventListener("click", () => showHealth(id));
      body.appendChild(tr);
    }
    $("total-sockets").textContent = String(sockets);
    $("total-rate").textContent = rate.toFixed(2);
  }

  function showHealth(id) {
    const h = state.health.get(id) || {};
    $("worker-health").hidden = false; $("health-worker").textContent = id;
    const list = $("health-fields"); list.replaceChildren();
    const fields = [["broker", h.broker], ["broker state", h.brokerOk === undefined ? "…" : (h.brokerOk ? "ok" : "down") + ": " + h.brokerDetail],
      ["listener restarts", h.listenerRestarts], ["publish failures", h.publishFailures],
      ["pub/sub lag p99", lastOf(id, "pubsubLagP99") + " ms"], ["event-loop lag", lastOf(id, "loopLag") + " ms"],
      ["python", h.python], ["uvloop", h.uvloop || "not installed"], ["event loop", h.eventLoop],
      ["uptime", h.uptimeSeconds === undefined ? "…" : h.uptimeSeconds + " s"], ["started", when(h.startedAt)], ["pid", h.pid]];
    for (const [k, v] of fields) { list.appendChild(el("dt", k)); list.appendChild(el("dd", v === undefined ? "…" : v, { "data-field": k })); }
  }

  function lastOf(worker, key) {
    const samples = state.history.get(worker) || [];
    for (let i = samples.length - 1; i >= 0; i--) if (samples[i][key] !== null && samples[i][key] !== undefined) return fmt(samples[i][key]);
    return "—";
  }

  function updateWorker(w) { state.workers.set(w.worker, { ...w, seen: Date.now() }); renderWorkers(); }

  // --- workspaces and their members ------------------------------------------------------------------
  // Rows are kept and updated in place, keyed by workspace: presence updates arrive every few seconds, and a
  // rebuilt table would swap the row under an operator's pointer between aiming and clicking.
  function renderWorkspaces(list) {
    const body = $("workspaces");
    const rows = new Map([...body.children].map((tr) => [tr.dataset.workspace, tr]));
    state.workspaces = new Map(list.map((w) => [w.workspaceId, w]));
    list.forEach((w, i) => {
      let tr = rows.get(w.workspaceId);
      const cells = [w.name, w.members, w.online, w.away, w.busy];
      if (!tr) {
        tr = row(cells); tr.dataset.workspace = w.workspaceId; tr.className = "clickable";
        tr.addEventListener("click", () => openWorkspace(tr.dataset.workspace));
      } else {
        cells.forEach((v, c) => { if (tr.children[c].textContent !== String(v)) tr.children[c].textContent = String(v); });
      }
      rows.delete(w.workspaceId);
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
    });
    for (const gone of rows.values()) gone.remove();
  }

  function openWorkspace(workspaceId) {
    const w = state.workspaces.get(workspaceId); if (!w) return;
    state.workspace = w; state.offset = 0; $("member-query").value = ""; loadMembers();
  }

  async function loadMembers() {
    const w = state.workspace; if (!w) return;
    $("members-panel").hidden = false; $("members-workspace").textContent = w.name;
    const ack = await call("dashboard:members", { workspaceId: w.workspaceId, q: $("member-query").value, offset: state.offset, limit: PAGE });
    if (!ack.ok) { $("action-result").textContent = "refused: " + ack.error.code; return; }
    const page = ack.data; state.total = page.total;
    $("members-total").textContent = String(page.total);
    $("members-range").textContent = page.total ? (page.offset + 1) + "–" + (page.offset + page.members.length) : "none";
    $("members-prev").disabled = page.offset === 0;
    $("members-next").disabled = page.offset + page.members.length >= page.total;
    const body = $("members"); body.replaceChildren();
    for (const m of page.members) {
      const status = el("span", m.status + (m.isBanned ? " · banned" : ""), { class: "status-" + m.status });
      const actions = el("span");
      actions.appendChild(button("Disconnect", "disconnect", () => ask({ action: "disconnect", userId: m.userId }, "Close every socket of " + m.username + "?")));
      actions.appendChild(button("Ban", "ban", () => ask({ action: "ban", userId: m.userId }, "Ban " + m.username + "? Their sessions end and they cannot sign in.")));
      actions.appendChild(button("Sessions", "sessions", () => loadSessions(m)));
      const tr = row([m.username, m.displayName, m.role, status, m.statusText || "", when(m.lastSeenAt), m.devices, actions]);
      tr.dataset.user = m.userId; tr.dataset.username = m.username;
      body.appendChild(tr);
    }
  }

  function button(label, action, onClick) {
    const b = el("button", label, { type: "button", "data-action": action });
    b.addEventListener("click", onClick); return b;
  }

  async function loadSessions(member) {
    const ack = await call("dashboard:sessions", { userId: member.userId });
    if (!ack.ok) { $("action-result").textContent = "refused: " + ack.error.code; return; }
    $("sessions-panel").hidden = false; $("sessions-user").textContent = member.username;
    const body = $("sessions"); body.replaceChildren();
    for (const s of ack.data) {
      const revoke = button("Revoke", "revokeSession", () => ask({ action: "revokeSession", userId: member.userId, sessionId: s.id }, "Revoke this session of " + member.username + "?"));
      const tr = row([s.id, s.userAgent || "", s.ipAddress || "", when(s.lastActiveAt), revoke]);
      tr.dataset.session = s.id; body.appendChild(tr);
    }
  }

  // --- operator actions: always confirmed, always audited --------------------------------------------
  function ask(action, question) {
    state.pending = action;
    $("confirm-text").textContent = question; $("confirm-reason").value = "";
    $("confirm").hidden = false; $("confirm-yes").focus();
  }

  async function confirmed() {
    const action = state.pending; state.pending = null; $("confirm").hidden = true;
    if (!action) return;
    const reason = $("confirm-reason").value.trim();
    const ack = await call("dashboard:action", reason ? { ...action, reason } : action);
    $("action-result").textContent = ack.ok ? action.action + " done" : "refused: " + ack.error.code + " (" + ack.error.message + ")";
    await loadAudit();
    await loadMembers();
  }

  async function loadAudit() {
    const ack = await call("dashboard:audit", null);
    if (!ack.ok) return;
    const body = $("audit"); body.replaceChildren();
    for (const a of ack.data) body.appendChild(row([when(a.createdAt), a.actorUsername, a.action, a.targetUsername || a.targetUserId, a.outcome, a.reason || ""]));
  }

  function addRecent(entry) {
    const body = $("recent");
    body.insertBefore(row([new Date(entry.at).toLocaleTimeString(), entry.event, entry.username, entry.worker]), body.firstChild);
    while (body.children.length > 50) body.removeChild(body.lastChild);
  }

  function connect(token) {
    $("login").hidden = true; $("panel").hidden = false;
    buildCharts();
    const socket = io({ auth: { token }, transports: ["websocket"] });
    state.socket = socket;
    socket.on("connect", async () => {
      const ack = await call("dashboard:subscribe", null);
      if (!ack.ok) { $("status").textContent = "refused: " + ack.error.code; return; }
      $("status").textContent = "live";
      state.interval = ack.data.intervalSeconds || 2;
      state.history.clear();
      for (const w of ack.data.history || []) for (const s of w.samples) addSample(w.worker, s, w.health);
      updateWorker(ack.data.worker);
      renderWorkspaces(ack.data.workspaces);
      $("recent").replaceChildren(); ack.data.recent.forEach(addRecent);
      drawAll(); loadAudit();
    });
    socket.on("connect_error", (err) => { $("status").textContent = "cannot connect: " + err.message; });
    socket.on("disconnect", () => { $("status").textContent = "reconnecting…"; });
    socket.on("dashboard:worker", updateWorker);
    socket.on("dashboard:presence", renderWorkspaces);
    socket.on("dashboard:connection", addRecent);
    socket.on("dashboard:sample", (m) => {
      addSample(m.worker, m.sample, m.health); drawAll(); renderWorkers();
      if ($("health-worker").textContent === m.worker) showHealth(m.worker);
    });
  }

  $("confirm-yes").addEventListener("click", confirmed);
  $("confirm-no").addEventListener("click", () => { state.pending = null; $("confirm").hidden = true; });
  $("members-search").addEventListener("submit", (e) => { e.preventDefault(); state.offset = 0; loadMembers(); });
  $("members-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadMembers(); });
  $("members-next").addEventListener("click", () => { state.offset += PAGE; loadMembers(); });

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
