// The ConnectNow web client. Plain DOM, no build step, no inline script or style (it runs under a strict CSP);
// every piece of user text is put in the page with textContent, never as HTML. The protocol work (tokens,
// reconnects, ordering, catching up) is done by the client library in connectnow.js.
import { ConnectNowClient } from "/app/connectnow.js";

const $ = (id) => document.getElementById(id);
const TOKENS_KEY = "connectnow.tokens";
const WORKSPACE_KEY = "connectnow.workspace";
const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "👀"];
const PAGE = 50;

const state = {
  client: null,
  workspaces: [],
  workspace: null,
  channels: [],
  badges: new Map(), // conversation key -> {unread, mentions}
  dms: new Map(), // conversationId -> Direct conversation
  users: new Map(), // userId -> {username, displayName}
  current: null, // Conversation
  stopCurrent: [], // listeners of the open conversation
  threadRoot: null,
  pendingUploads: [], // attachments uploaded for the next message
  thumbs: new Map(), // attachment id -> object URL
};

// ---- small DOM helpers ----------------------------------------------------------------------------------

/** Create an element; `text` is always set as text, never parsed as HTML. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function showError(err) {
  const text = err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? err);
  $("history-status").textContent = text;
}

function nameOf(userId) {
  if (userId === state.client?.user?.id) return state.client.user.displayName || state.client.user.username;
  const user = state.users.get(userId);
  return user ? user.displayName || user.username : "someone";
}

function timeOf(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
}

function ago(iso) {
  if (!iso) return "a while ago";
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  if (minutes < 1440) return `${Math.round(minutes / 60)} h ago`;
  return new Date(iso).toLocaleDateString();
}

// A one-field dialog (or a confirmation when `input` is false); resolves with the text (or what `check` answers),
// or null when cancelled.
function ask({ title, label = "", value = "", text = "", input = true, ok = "OK", check }) {
  const dlg = $("dlg");
  $("dlg-title").textContent = title;
  $("dlg-text").textContent = text;
  $("dlg-label").textContent = label;
  $("dlg-label").hidden = !input;
  $("dlg-input").hidden = !input;
  $("dlg-input").value = value;
  $("dlg-error").textContent = "";
  $("dlg-ok").textContent = ok;
  dlg.showModal();
  if (input) $("dlg-input").focus();
  return new Promise((resolve) => {
    const done = (result) => {
      $("dlg-form").removeEventListener("submit", submit);
      $("dlg-cancel").removeEventListener("click", cancel);
      dlg.removeEventListener("cancel", cancel);
      dlg.close();
      resolve(result);
    };
    const submit = async (event) => {
      event.preventDefault();
      const result = input ? $("dlg-input").value.trim() : true;
      if (input && !result) return;
      try {
        // `check` does the work while the dialog is open (its error is shown here); its answer is the result.
        done(check ? await check(result) : result);
      } catch (err) {
        $("dlg-error").textContent = err.code ? `${err.code}: ${err.message}` : String(err.message ?? err);
      }
    };
    const cancel = (event) => {
      event.preventDefault();
      done(null);
    };
    $("dlg-form").addEventListener("submit", submit);
    $("dlg-cancel").addEventListener("click", cancel);
    dlg.addEventListener("cancel", cancel);
  });
}

// ---- sign-in ----------------------------------------------------------------------------------------------

let signingUp = false;

function toggleSignup() {
  signingUp = !signingUp;
  $("signup-fields").hidden = !signingUp;
  $("auth-mode-title").textContent = signingUp ? "Create an account" : "Sign in";
  $("auth-submit").textContent = signingUp ? "Sign up" : "Sign in";
  $("auth-login").previousElementSibling.textContent = signingUp ? "Username" : "Username or e-mail";
  $("auth-password").autocomplete = signingUp ? "new-password" : "current-password";
  $("auth-toggle").textContent = signingUp ? "Have an account? Sign in" : "New here? Create an account";
}

function newClient(tokens) {
  const client = new ConnectNowClient({ tokens });
  // Per tab: two tabs sharing one refresh token would each rotate it, and a reused one ends the session.
  client.on("tokens", (t) => sessionStorage.setItem(TOKENS_KEY, JSON.stringify(t)));
  client.on("signedout", () => {
    sessionStorage.removeItem(TOKENS_KEY);
    location.hash = "";
    location.reload();
  });
  return client;
}

async function submitAuth(event) {
  event.preventDefault();
  $("auth-error").textContent = "";
  const client = newClient(null);
  const login = $("auth-login").value.trim();
  const password = $("auth-password").value;
  try {
    if (signingUp) {
      await client.register({
        username: login,
        email: $("auth-email").value.trim(),
        displayName: $("auth-display").value.trim() || login,
        password,
      });
    } else {
      await client.login(login, password);
    }
  } catch (err) {
    $("auth-error").textContent = `${err.message}${err.code ? ` (${err.code})` : ""}`;
    return;
  }
  await start(client);
}

// ---- connection state ------------------------------------------------------------------------------------

function showConnection(status) {
  const labels = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    disconnected: "Offline",
    failed: "Disconnected",
  };
  $("conn-status").textContent = labels[status] ?? status;
  $("conn-status").dataset.state = status;
  $("banner").hidden = status === "connected" || status === "connecting";
}

async function start(client) {
  state.client = client;
  $("auth").hidden = true;
  $("app").hidden = false;
  $("me").textContent = client.user.username;
  client.on("state", showConnection);
  // After a reconnect the open conversation has caught up by itself (the library syncs it); the sidebar may
  // have missed channels and counts, so ask for them again.
  client.on("synced", ({ reconnect }) => {
    if (reconnect && state.workspace) selectWorkspaceChannels().then(refreshBadges).catch(() => {});
  });
  wireServerEvents(client);
  try {
    await client.connect();
  } catch (err) {
    showError(err);
    return;
  }
  await loadWorkspaces();
  const code = new URLSearchParams(location.hash.slice(1)).get("join");
  if (code) {
    history.replaceState(null, "", location.pathname);
    const ws = await joinByCode(code).catch(showError);
    if (ws) await loadWorkspaces(ws.id);
  }
}

// ---- workspaces --------------------------------------------------------------------------------------------

async function loadWorkspaces(selectId) {
  state.workspaces = await state.client.call("workspace:list");
  const select = $("ws-select");
  select.replaceChildren(...state.workspaces.map((w) => el("option", { value: w.id, text: w.name })));
  const wanted = selectId ?? localStorage.getItem(WORKSPACE_KEY);
  const ws = state.workspaces.find((w) => w.id === wanted) ?? state.workspaces[0];
  $("empty").hidden = Boolean(ws);
  $("composer").hidden = !ws;
  if (ws) await selectWorkspace(ws.id);
}

async function selectWorkspace(workspaceId) {
  const client = state.client;
  state.workspace = state.workspaces.find((w) => w.id === workspaceId);
  localStorage.setItem(WORKSPACE_KEY, workspaceId);
  $("ws-select").value = workspaceId;
  const [channels, members, dms] = await Promise.all([
    client.call("channel:list", { workspaceId }),
    client.call("member:list", { workspaceId }),
    client.call("dm:list", {}),
  ]);
  state.channels = channels.filter((c) => !c.isArchived);
  for (const m of members) state.users.set(m.userId, { username: m.username, displayName: m.nickname || m.displayName });
  state.members = members;
  state.dms = new Map(dms.map((d) => [d.id, d]));
  for (const d of dms) {
    state.users.set(d.otherUser.id, { username: d.otherUser.username, displayName: d.otherUser.displayName });
    state.badges.set(`dm:${d.id}`, { unread: d.unread, mentions: d.mentions });
  }
  await client.queryPresence([...members.map((m) => m.userId), ...dms.map((d) => d.otherUser.id)]).catch(() => []);
  await refreshBadges();
  renderMembers();
  const general = state.channels.find((c) => c.isDefault) ?? state.channels[0];
  if (general) await openChannel(general.id);
}

async function refreshBadges() {
  if (!state.workspace) return;
  const unread = await state.client.call("channel:unread", { workspaceId: state.workspace.id });
  for (const u of unread) state.badges.set(`channel:${u.channelId}`, { unread: u.unread, mentions: u.mentions });
  for (const d of await state.client.call("dm:list", {})) {
    state.dms.set(d.id, d);
    state.badges.set(`dm:${d.id}`, { unread: d.unread, mentions: d.mentions });
  }
  renderSidebar();
}

async function joinByCode(text) {
  // Accept a bare code or a whole invite link (…#join=CODE).
  const code = text.includes("join=") ? new URLSearchParams(text.slice(text.indexOf("#") + 1)).get("join") : text;
  return state.client.call("workspace:joinByCode", { code });
}

// ---- sidebar -------------------------------------------------------------------------------------------------

function badge(key) {
  const b = state.badges.get(key) ?? { unread: 0, mentions: 0 };
  const out = [];
  // Every direct message is addressed to you: its badge is the count, in the mention colour.
  if (key.startsWith("dm:") && b.unread) out.push(el("span", { class: "badge mention", "aria-label": `${b.unread} unread`, text: String(b.unread) }));
  else if (b.mentions) out.push(el("span", { class: "badge mention", "aria-label": `${b.mentions} mentions`, text: `@${b.mentions}` }));
  else if (b.unread) out.push(el("span", { class: "badge", "aria-label": `${b.unread} unread`, text: String(b.unread) }));
  return out;
}

function sidebarItem(key, label, onClick, extra = []) {
  const current = state.current && `${state.current.kind}:${state.current.id}` === key;
  const b = state.badges.get(key);
  return el(
    "li",
    {},
    el(
      "button",
      { type: "button", class: `conv-link${current ? " current" : ""}${b?.unread ? " unread" : ""}`, "data-key": key, "aria-current": current ? "page" : null, onclick: onClick },
      ...extra,
      el("span", { class: "label", text: label }),
      ...badge(key),
    ),
  );
}

function renderSidebar() {
  $("channels").replaceChildren(
    ...state.channels.map((c) => sidebarItem(`channel:${c.id}`, `${c.isPrivate ? "🔒" : "#"} ${c.name}`, () => openChannel(c.id))),
  );
  const dms = [...state.dms.values()].sort((a, b) => (b.lastMessageAt ?? "").localeCompare(a.lastMessageAt ?? ""));
  $("dms").replaceChildren(
    ...dms.map((d) => sidebarItem(`dm:${d.id}`, d.otherUser.displayName || d.otherUser.username, () => openDm(d.id), [presenceDot(d.otherUser.id)])),
  );
}

function presenceDot(userId) {
  const p = state.client.presence.get(userId);
  const status = p?.status ?? "OFFLINE";
  const label = status === "OFFLINE" ? `offline, ${seen(userId)}` : status.toLowerCase();
  return el("span", { class: `dot ${status.toLowerCase()}`, role: "img", "aria-label": label, title: label, "data-user": userId });
}

function renderMembers() {
  const me = state.client.user.id;
  $("members").replaceChildren(
    ...(state.members ?? []).map((m) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "conv-link", "data-user": m.userId, disabled: m.userId === me, "aria-label": m.userId === me ? `${m.username} (you)` : `Message ${m.username}`, onclick: () => startDm(m.userId) },
          presenceDot(m.userId),
          el("span", { class: "label", text: m.nickname || m.displayName || m.username }),
          el("span", { class: "muted small", text: ` @${m.username}` }),
        ),
      ),
    ),
  );
}

// ---- conversations -----------------------------------------------------------------------------------------

async function openChannel(channelId) {
  const channel = state.channels.find((c) => c.id === channelId);
  await openConversation(state.client.channel(channelId), `# ${channel?.name ?? ""}`, channel?.topic ?? "");
}

async function openDm(conversationId) {
  const dm = state.dms.get(conversationId);
  await openConversation(state.client.dm(conversationId), dm ? `@ ${dm.otherUser.username}` : "Direct message", dm ? seen(dm.otherUser.id) : "");
}

// "online", "away", or "last seen 5 min ago" for a conversation header.
function seen(userId) {
  const p = state.client.presence.get(userId);
  if (!p || p.status === "OFFLINE") return `last seen ${ago(p?.lastActiveAt)}`;
  return p.status.toLowerCase();
}

async function startDm(userId) {
  const dm = await state.client.call("dm:open", { userId });
  state.dms.set(dm.id, dm);
  state.users.set(dm.otherUser.id, { username: dm.otherUser.username, displayName: dm.otherUser.displayName });
  renderSidebar();
  await openDm(dm.id);
}

async function openConversation(conv, title, topic) {
  for (const stop of state.stopCurrent) stop();
  closeThread();
  state.current = conv;
  document.body.classList.remove("drawer-open");
  $("menu-btn").setAttribute("aria-expanded", "false");
  $("conv-title").textContent = title;
  $("conv-topic").textContent = topic;
  $("pins-btn").hidden = conv.kind !== "channel";
  $("messages").replaceChildren();
  $("typing").textContent = "";
  $("history-status").textContent = "";
  state.stopCurrent = [
    conv.on("message", (m, source, replacing) => onMessage(conv, m, source, replacing)),
    conv.on("typing", (typers) => showTyping(conv, typers)),
    conv.on("reload", () => renderAll(conv)),
    conv.on("lost", () => showError({ code: "NOT_FOUND", message: "You can no longer read this conversation." })),
  ];
  try {
    if (conv.lastEventSeq === null) await conv.loadLatest(PAGE);
  } catch (err) {
    showError(err);
  }
  if (state.current !== conv) return;
  renderAll(conv);
  scrollToEnd();
  markRead(conv);
  renderSidebar();
  $("composer-input").focus();
}

const topLevel = (m) => !m.parentId;

function renderAll(conv) {
  $("messages").replaceChildren(...conv.list(topLevel).map((m) => messageItem(conv, m)));
  if (conv.reachedStart) $("history-status").textContent = "This is the beginning of the conversation.";
}

function onMessage(conv, m, source, replacing) {
  if (state.current !== conv) return;
  if (state.threadRoot && (m.parentId === state.threadRoot || m.id === state.threadRoot)) renderThread();
  if (!topLevel(m)) return;
  const list = $("messages");
  const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const old = list.querySelector(`[data-id="${CSS.escape(replacing ?? m.id)}"]`) ?? list.querySelector(`[data-id="${CSS.escape(m.id)}"]`);
  const item = messageItem(conv, m);
  if (old) old.replaceWith(item);
  else insertBySeq(list, item, m.seq);
  if (source !== "history" && (nearEnd || (m.userId ?? m.senderId) === state.client.user.id)) scrollToEnd();
  if ((source === "live" || source === "sync") && document.visibilityState === "visible") markRead(conv);
}

// Keep the list in seq order: history pages arrive before what is shown, sync may fill a hole in the middle.
function insertBySeq(list, item, seq) {
  if (seq === undefined) return list.append(item);
  for (const other of list.children) {
    const otherSeq = Number(other.dataset.seq || Infinity);
    if (otherSeq > seq) return list.insertBefore(item, other);
  }
  list.append(item);
}

function scrollToEnd() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

let readTimer = null;
function markRead(conv) {
  state.badges.set(`${conv.kind}:${conv.id}`, { unread: 0, mentions: 0 });
  renderSidebar();
  // One server call for a burst of messages.
  clearTimeout(readTimer);
  readTimer = setTimeout(() => conv.markRead().catch(() => {}), 300);
}

// Infinite scroll back through history: near the top, load the page before the oldest message.
let loadingOlder = false;
async function onScroll() {
  const conv = state.current;
  const list = $("messages");
  if (!conv || loadingOlder || conv.reachedStart || list.scrollTop > 60) return;
  loadingOlder = true;
  $("history-status").textContent = "Loading older messages…";
  const before = list.scrollHeight - list.scrollTop;
  try {
    await conv.loadOlder(PAGE);
    if (state.current === conv) {
      renderAll(conv);
      list.scrollTop = list.scrollHeight - before; // stay on the message the reader was looking at
      if (!conv.reachedStart) $("history-status").textContent = "";
    }
  } catch (err) {
    showError(err);
  } finally {
    loadingOlder = false;
  }
}

function showTyping(conv, typers) {
  if (state.current !== conv) return;
  const names = [...typers.keys()].map(nameOf);
  $("typing").textContent = !names.length ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

// ---- one message -----------------------------------------------------------------------------------------

function messageItem(conv, m, { inThread = false } = {}) {
  const author = m.userId ?? m.senderId;
  const mine = author === state.client.user.id;
  const item = el("li", {
    class: `msg${m.pending ? " pending" : ""}${m.failed ? " failed" : ""}${m.isDeleted ? " deleted" : ""}${m.type === "SYSTEM" ? " system" : ""}${m.isPinned ? " pinned" : ""}`,
    "data-id": m.id,
    "data-seq": m.seq ?? "",
    tabindex: "-1",
  });
  const head = el(
    "div",
    { class: "msg-head" },
    presenceDot(author),
    el("strong", { class: "author", text: nameOf(author) }),
    el("time", { datetime: m.createdAt ?? "", text: timeOf(m.createdAt) }),
    m.isEdited && !m.isDeleted ? el("span", { class: "muted small", text: "(edited)" }) : null,
    m.isPinned ? el("span", { class: "pin-mark", text: "📌 pinned" }) : null,
  );
  const body = el("div", { class: "content", text: m.isDeleted ? "This message was deleted." : m.content });
  item.append(head, body);
  if (m.pending) item.append(el("span", { class: "status muted small", text: "Sending…" }));
  if (m.failed) {
    item.append(
      el("span", { class: "status error small", text: `Not sent (${m.failed.code}). ` }),
      el("button", { type: "button", class: "link", text: "Retry", onclick: () => conv.retry(m.clientMsgId).catch(() => {}) }),
    );
  }
  if (m.attachments?.length && !m.isDeleted) item.append(attachmentsOf(m));
  if (m.pending || m.failed || m.isDeleted || m.type === "SYSTEM") return item;
  if (conv.kind === "channel") item.append(reactionsOf(conv, m));
  if (conv.kind === "channel" && !inThread && m.replyCount) {
    item.append(el("button", { type: "button", class: "link replies", text: `${m.replyCount} ${m.replyCount === 1 ? "reply" : "replies"}`, onclick: () => openThread(m.id) }));
  }
  item.append(actionsOf(conv, m, mine, inThread));
  return item;
}

function reactionsOf(conv, m) {
  const me = state.client.user.id;
  return el(
    "div",
    { class: "reactions" },
    ...(m.reactions ?? []).map((r) => {
      const mineToo = r.userIds?.includes(me);
      return el("button", {
        type: "button",
        class: `reaction${mineToo ? " mine" : ""}`,
        "aria-pressed": mineToo ? "true" : "false",
        "aria-label": `${r.emoji} ${r.count}, ${mineToo ? "remove yours" : "add yours"}`,
        text: `${r.emoji} ${r.count}`,
        onclick: () => conv.react(m.id, r.emoji, !mineToo).catch(showError),
      });
    }),
  );
}

function actionsOf(conv, m, mine, inThread) {
  const actions = el("div", { class: "actions", role: "group", "aria-label": "Message actions" });
  const add = (label, fn, cls = "") => actions.append(el("button", { type: "button", class: `act ${cls}`, text: label, onclick: fn }));
  if (conv.kind === "channel") {
    const picker = el("span", { class: "picker", hidden: true });
    for (const emoji of QUICK_EMOJI) {
      picker.append(el("button", { type: "button", class: "act", "aria-label": `React ${emoji}`, text: emoji, onclick: () => conv.react(m.id, emoji).catch(showError) }));
    }
    add("React", () => {
      picker.hidden = !picker.hidden;
      if (!picker.hidden) picker.firstChild.focus();
    }, "react");
    actions.append(picker);
    if (!inThread) add("Reply in thread", () => openThread(m.id), "thread");
    add(m.isPinned ? "Unpin" : "Pin", () => conv.pin(m.id, !m.isPinned).catch(showError), "pin");
  }
  if (mine) {
    add("Edit", () => editMessage(conv, m), "edit");
    add("Delete", () => deleteMessage(conv, m), "delete");
  }
  return actions;
}

async function editMessage(conv, m) {
  await ask({
    title: "Edit message",
    label: "Message",
    value: m.content,
    ok: "Save",
    check: (text) => conv.edit(m.id, text),
  });
}

async function deleteMessage(conv, m) {
  await ask({ title: "Delete this message?", text: m.content, input: false, ok: "Delete", check: () => conv.delete(m.id) });
}

function attachmentsOf(m) {
  const box = el("div", { class: "attachments" });
  for (const a of m.attachments) {
    if (a.thumbnailUrl) {
      const img = el("img", { alt: a.fileName, class: "thumb", width: a.width && Math.min(a.width, 240), "data-attachment": a.id });
      box.append(img);
      authorizedUrl(a.id, a.thumbnailUrl).then((url) => (img.src = url), () => {});
    }
    box.append(el("button", { type: "button", class: "link file", text: `⬇ ${a.fileName} (${Math.ceil(a.fileSize / 1024)} KB)`, onclick: () => download(a) }));
  }
  return box;
}

// Attachment bytes need the bearer token, which an <img src> cannot send: fetch, then show an object URL.
async function authorizedUrl(id, url) {
  if (state.thumbs.has(id)) return state.thumbs.get(id);
  const response = await fetch(url, { headers: { authorization: `Bearer ${await state.client.accessToken()}` } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const objectUrl = URL.createObjectURL(await response.blob());
  state.thumbs.set(id, objectUrl);
  return objectUrl;
}

async function download(a) {
  const response = await fetch(a.fileUrl, { headers: { authorization: `Bearer ${await state.client.accessToken()}` } });
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: a.fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- composing -------------------------------------------------------------------------------------------

async function send(event) {
  event.preventDefault();
  const conv = state.current;
  const input = $("composer-input");
  const content = input.value.trim();
  const uploads = state.pendingUploads.filter((u) => u.attachment);
  if (!conv || (!content && !uploads.length)) return;
  input.value = "";
  state.pendingUploads = [];
  renderUploads();
  conv.stopTyping();
  const attachmentIds = uploads.map((u) => u.attachment.id);
  const type = uploads.length && uploads.every((u) => u.attachment.mimeType.startsWith("image/")) ? "IMAGE" : uploads.length ? "FILE" : undefined;
  // The library shows it at once as pending and keeps it (with Retry) if it fails.
  await conv.send(content || uploads.map((u) => u.attachment.fileName).join(", "), { attachmentIds, type }).catch(() => {});
}

function composerKeys(event, form) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
}

function renderUploads() {
  $("uploads").replaceChildren(
    ...state.pendingUploads.map((u) =>
      el(
        "span",
        { class: "upload" },
        el("span", { text: u.name }),
        u.attachment ? el("span", { class: "muted small", text: " ready" }) : el("progress", { max: "1", value: String(u.progress), "aria-label": `Uploading ${u.name}` }),
        u.error ? el("span", { class: "error small", text: ` ${u.error}` }) : null,
        el("button", { type: "button", class: "icon", "aria-label": `Remove ${u.name}`, text: "✕", onclick: () => {
          state.pendingUploads = state.pendingUploads.filter((x) => x !== u);
          renderUploads();
        } }),
      ),
    ),
  );
}

async function upload(event) {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  const entry = { name: file.name, progress: 0 };
  state.pendingUploads.push(entry);
  renderUploads();
  try {
    entry.attachment = await state.client.upload(file, {
      onProgress: (fraction) => {
        entry.progress = fraction;
        const bar = $("uploads").querySelector(`progress[aria-label="Uploading ${CSS.escape(file.name)}"]`);
        if (bar) bar.value = fraction;
      },
    });
  } catch (err) {
    entry.error = err.code ?? err.message;
  }
  renderUploads();
}

// ---- threads, pins, search -------------------------------------------------------------------------------------

async function openThread(rootId) {
  const conv = state.current;
  state.threadRoot = rootId;
  $("thread").hidden = false;
  document.body.classList.add("thread-open");
  renderThread();
  await conv.thread(rootId).catch(showError);
  renderThread();
  $("thread-input").focus();
}

function renderThread() {
  const conv = state.current;
  const rootId = state.threadRoot;
  if (!conv || !rootId) return;
  const root = conv.messages.get(rootId);
  const replies = conv.list((m) => m.parentId === rootId);
  $("thread-messages").replaceChildren(...[root, ...replies].filter(Boolean).map((m) => messageItem(conv, m, { inThread: true })));
}

function closeThread() {
  state.threadRoot = null;
  $("thread").hidden = true;
  document.body.classList.remove("thread-open");
}

async function sendReply(event) {
  event.preventDefault();
  const text = $("thread-input").value.trim();
  if (!text || !state.threadRoot) return;
  $("thread-input").value = "";
  await state.current.send(text, { parentId: state.threadRoot }).catch(() => {});
}

function showSide(title, messages, emptyText) {
  $("side-title").textContent = title;
  $("side").hidden = false;
  const items = messages.map((m) => {
    const channel = state.channels.find((c) => c.id === m.channelId);
    return el(
      "li",
      { class: "msg" },
      el("div", { class: "msg-head" }, el("strong", { text: nameOf(m.userId) }), el("span", { class: "muted small", text: ` in #${channel?.name ?? "?"} · ${timeOf(m.createdAt)}` })),
      el("div", { class: "content", text: m.content }),
      el("button", { type: "button", class: "link", text: "Open channel", onclick: () => openChannel(m.channelId) }),
    );
  });
  $("side-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: emptyText })]));
  $("side-close").focus();
}

async function showPins() {
  if (state.current?.kind !== "channel") return;
  showSide("Pinned messages", await state.current.pins(), "Nothing is pinned here yet.");
}

async function search(event) {
  event.preventDefault();
  const query = $("search-input").value.trim();
  if (!query || !state.workspace) return;
  try {
    showSide(`Search: ${query}`, await state.client.call("message:search", { workspaceId: state.workspace.id, query }), "No messages match.");
  } catch (err) {
    showError(err);
  }
}

// ---- events from the server that are not a conversation's own stream ------------------------------------------

function bump(key, mention) {
  const b = state.badges.get(key) ?? { unread: 0, mentions: 0 };
  b.unread += 1;
  if (mention) b.mentions += 1;
  state.badges.set(key, b);
  renderSidebar();
}

function wireServerEvents(client) {
  const me = () => client.user.id;
  client.on("message:new", ({ channelId, message }) => {
    const open = state.current?.kind === "channel" && state.current.id === channelId && document.visibilityState === "visible";
    if (open || message.userId === me() || message.type === "SYSTEM") return;
    if (state.channels.some((c) => c.id === channelId)) bump(`channel:${channelId}`, message.mentions?.includes(me()));
  });
  client.on("dm:conversation", ({ conversation }) => {
    state.dms.set(conversation.id, conversation);
    state.users.set(conversation.otherUser.id, { username: conversation.otherUser.username, displayName: conversation.otherUser.displayName });
    const open = state.current?.kind === "dm" && state.current.id === conversation.id;
    state.badges.set(`dm:${conversation.id}`, open ? { unread: 0, mentions: 0 } : { unread: conversation.unread, mentions: conversation.mentions });
    renderSidebar();
  });
  client.on("presence:changed", (p) => {
    const dm = state.current?.kind === "dm" ? state.dms.get(state.current.id) : null;
    if (dm?.otherUser.id === p.userId) $("conv-topic").textContent = seen(p.userId);
    for (const dot of document.querySelectorAll(`.dot[data-user="${CSS.escape(p.userId)}"]`)) dot.replaceWith(presenceDot(p.userId));
  });
  const reloadChannels = async () => state.workspace && selectWorkspaceChannels();
  for (const event of ["channel:created", "channel:updated", "channel:added", "channel:removed"]) client.on(event, reloadChannels);
  client.on("workspaceMember:joined", ({ member }) => {
    if (member.workspaceId !== state.workspace?.id) return;
    state.users.set(member.userId, { username: member.username, displayName: member.displayName });
    state.members = [...(state.members ?? []).filter((m) => m.userId !== member.userId), member];
    renderMembers();
    client.queryPresence([member.userId]).then(renderMembers, () => {});
  });
  client.on("workspace:removed", () => loadWorkspaces().catch(showError));
}

async function selectWorkspaceChannels() {
  const channels = await state.client.call("channel:list", { workspaceId: state.workspace.id });
  state.channels = channels.filter((c) => !c.isArchived);
  renderSidebar();
}

// ---- buttons ---------------------------------------------------------------------------------------------

async function newWorkspace() {
  const ws = await ask({ title: "New workspace", label: "Name", ok: "Create", check: (name) => state.client.call("workspace:create", { name }) });
  if (ws) await loadWorkspaces(ws.id);
}

async function joinWorkspace() {
  const ws = await ask({ title: "Join a workspace", label: "Invite code or link", ok: "Join", check: joinByCode });
  if (ws) await loadWorkspaces(ws.id);
}

async function invite() {
  if (!state.workspace) return;
  try {
    const created = await state.client.call("invite:create", { workspaceId: state.workspace.id });
    const link = `${location.origin}/#join=${encodeURIComponent(created.code)}`;
    await ask({ title: "Invite people", text: "Share this link or code. It is shown only once.", label: "Invite link", value: link, ok: "Done" });
  } catch (err) {
    showError(err);
  }
}

async function newChannel() {
  if (!state.workspace) return;
  const workspaceId = state.workspace.id;
  const channel = await ask({ title: "New channel", label: "Name (lower case, digits, - and _)", ok: "Create", check: (name) => state.client.call("channel:create", { workspaceId, name }) });
  if (!channel) return;
  await selectWorkspaceChannels();
  await openChannel(channel.id);
}

function toggleDrawer() {
  const open = document.body.classList.toggle("drawer-open");
  $("menu-btn").setAttribute("aria-expanded", String(open));
}

function wireUi() {
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-toggle").addEventListener("click", toggleSignup);
  $("ws-select").addEventListener("change", (e) => selectWorkspace(e.target.value).catch(showError));
  $("ws-new").addEventListener("click", newWorkspace);
  $("ws-join").addEventListener("click", joinWorkspace);
  $("invite-btn").addEventListener("click", invite);
  $("channel-new").addEventListener("click", newChannel);
  $("logout").addEventListener("click", () => state.client.logout().catch(() => location.reload()));
  $("composer").addEventListener("submit", send);
  $("composer-input").addEventListener("keydown", (e) => composerKeys(e, $("composer")));
  $("composer-input").addEventListener("input", () => $("composer-input").value && state.current?.startTyping());
  $("thread-composer").addEventListener("submit", sendReply);
  $("thread-input").addEventListener("keydown", (e) => composerKeys(e, $("thread-composer")));
  $("thread-close").addEventListener("click", closeThread);
  $("side-close").addEventListener("click", () => ($("side").hidden = true));
  $("file-input").addEventListener("change", upload);
  $("messages").addEventListener("scroll", onScroll);
  $("pins-btn").addEventListener("click", () => showPins().catch(showError));
  $("search-form").addEventListener("submit", search);
  $("menu-btn").addEventListener("click", toggleDrawer);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("thread").hidden) closeThread();
  });
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && state.current && markRead(state.current));
}

function boot() {
  wireUi();
  const saved = sessionStorage.getItem(TOKENS_KEY);
  if (!saved) {
    if (new URLSearchParams(location.hash.slice(1)).get("join")) toggleSignup(); // invited: most likely new here
    return;
  }
  start(newClient(JSON.parse(saved))).catch(showError);
}

boot();
