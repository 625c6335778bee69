// The public booking page: talks only to /api/v1/public/scheduling/{username}; every text from
// the server is shown with textContent, never as HTML.
"use strict";

const username = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const api = `/api/v1/public/scheduling/${encodeURIComponent(username)}`;
const $ = (id) => document.getElementById(id);
let types = [];
let chosen = null;

async function call(path, options) {
  const answer = await fetch(api + path, options);
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error((body.error && body.error.message) || `HTTP ${answer.status}`);
  return body;
}

function say(text) { $("status").textContent = text; }

async function loadSlots() {
  const kind = types.find((t) => String(t.id) === $("kind").value);
  if (!kind || !$("day").value) return;
  const from = `${$("day").value}T00:00:00Z`;
  const to = new Date(Date.parse(from) + 86400000).toISOString();
  const query = new URLSearchParams({ from, to, durationMinutes: String(Math.max(5, kind.durationMinutes)) });
  const list = $("slots");
  list.replaceChildren();
  try {
    const found = await call(`/slots?${query}`);
    say(found.slots.length ? "Pick a time (your local time):" : "No open times that day.");
    for (const slot of found.slots) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = new Date(slot.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      button.addEventListener("click", () => {
        chosen = { kind, start: slot.start };
        $("chosen").textContent = `${kind.title}, ${new Date(slot.start).toLocaleString()}`;
        $("form").hidden = false;
      });
      const item = document.createElement("li");
      item.append(button);
      list.append(item);
    }
  } catch (err) { say(err.message); }
}

async function book(event) {
  event.preventDefault();
  if (!chosen) return;
  const body = {
    eventTypeId: chosen.kind.id, startTime: chosen.start, name: $("name").value, email: $("email").value,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
  try {
    const receipt = await call("/bookings", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    $("form").hidden = true;
    $("done").hidden = false;
    $("ics").href = URL.createObjectURL(new Blob([receipt.invitation], { type: "text/calendar" }));
    $("cancel").textContent = `Cancel: POST ${location.origin}${receipt.cancelPath}`;
    $("reschedule").textContent = `Reschedule: POST ${location.origin}${receipt.reschedulePath}`;
    say("");
  } catch (err) { say(err.message); }
}

async function start() {
  try {
    const host = await call("");
    $("host").textContent = `Book a meeting with ${host.displayName}`;
    $("church").textContent = host.churchName || "";
    types = host.eventTypes;
    for (const kind of types) {
      const option = document.createElement("option");
      option.value = String(kind.id);
      option.textContent = `${kind.title} (${kind.durationMinutes} min)`;
      $("kind").append(option);
    }
    $("day").value = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    $("kind").addEventListener("change", loadSlots);
    $("day").addEventListener("change", loadSlots);
    $("form").addEventListener("submit", book);
    await loadSlots();
  } catch (err) { say(err.message); }
}

document.addEventListener("DOMContentLoaded", start);
