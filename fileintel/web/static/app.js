// FileIntel pages: follow /api/events from the position the page was rendered at, and
// keep statuses, progress bars and "4 min ago" times current without a reload.
"use strict";

const SEGMENTS = ["done", "skipped", "failed", "processing", "pending"];
const STATUS_CHANGED = "collection.status_changed";

function ago(iso) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${unit} ago`;
  }
  return `${seconds} s ago`;
}

function refreshTimes(root) {
  for (const t of (root || document).querySelectorAll("time[datetime]")) {
    t.textContent = ago(t.getAttribute("datetime"));
  }
}

function timeElement(iso) {
  const t = document.createElement("time");
  t.setAttribute("datetime", iso);
  t.title = iso;
  t.textContent = ago(iso);
  return t;
}

function setProgress(container, documents) {
  const bar = container.querySelector("[data-role=progress]");
  if (!bar || !documents) return;
  const total = documents.total || 0;
  const finished = (documents.done || 0) + (documents.skipped || 0) + (documents.failed || 0);
  const percent = total ? Math.round((100 * finished) / total) : 0;
  bar.setAttribute("aria-valuenow", String(percent));
  bar.querySelector("[data-role=percent]").textContent = `${percent} %`;
  for (const name of SEGMENTS) {
    const count = documents[name] || 0;
    bar.querySelector(`[data-seg=${name}]`).style.width = total ? `${(100 * count) / total}%` : "0%";
    bar.querySelector(`[data-count=${name}] b`).textContent = String(count);
  }
  bar.querySelector("[data-count=total]").textContent = String(total);
}

function setStatus(container, status, at) {
  const badge = container.querySelector(".head [data-role=status]");
  if (badge) {
    badge.textContent = status;
    badge.className = `status status-${status}`;
  }
  const since = container.querySelector("[data-role=since]");
  if (since && at) since.replaceChildren(timeElement(at));
}

function setWarnings(container, warnings) {
  const list = container.querySelector("[data-role=warnings]");
  if (!list) return;
  list.replaceChildren(
    ...warnings.map((w) => {
      const li = document.createElement("li");
      const code = document.createElement("b");
      code.textContent = w.code;
      li.append(code, ` ${w.message}`);
      return li;
    }),
  );
}

function addHistory(event) {
  const list = document.querySelector("[data-role=history]");
  if (!list) return;
  const li = document.createElement("li");
  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = String(event.seq);
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = event.from || "-";
  const badge = document.createElement("span");
  badge.className = `status status-${event.to}`;
  badge.textContent = event.to;
  const actor = document.createElement("span");
  actor.className = "actor";
  actor.textContent = `by ${event.actor}`;
  li.append(seq, " ", timeElement(event.at), " ", from, " → ", badge, " ", actor);
  if (event.message) {
    const msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = event.message;
    li.append(msg);
  }
  list.prepend(li);
}

async function refreshCollection(container, id) {
  // Counters reset with a new run and warnings come and go: ask for the whole object.
  const response = await fetch(`/api/collections/${encodeURIComponent(id)}`);
  if (!response.ok) return;
  const view = await response.json();
  setStatus(container, view.status, view.status_updated_at);
  setProgress(container, view.documents);
  setWarnings(container, view.warnings);
  const message = container.querySelector("[data-role=message]");
  if (message) message.textContent = view.status_message || "-";
  const description = container.querySelector("[data-role=description]");
  if (description) description.textContent = view.status_description;
}

function onEvent(event) {
  const runCard = document.querySelector(`[data-run-id="${CSS.escape(event.run_id || "")}"]`);
  const cards = document.querySelectorAll(
    `[data-collection-id="${CSS.escape(event.collection_id || "")}"]`,
  );
  if (event.type === STATUS_CHANGED) {
    for (const card of cards) {
      setStatus(card, event.to, event.at);
      refreshCollection(card, event.collection_id);
    }
    addHistory(event);
    if (runCard && !runCard.dataset.collectionId) setStatus(runCard, event.to, null);
  } else if (event.documents) {
    for (const card of cards) setProgress(card, event.documents);
    if (runCard && !runCard.dataset.collectionId) setProgress(runCard, event.documents);
  }
}

function follow() {
  const live = document.getElementById("live");
  const params = new URLSearchParams({ after: document.body.dataset.after });
  if (document.body.dataset.collection) params.set("collection", document.body.dataset.collection);
  const source = new EventSource(`/api/events?${params}`);
  source.onopen = () => {
    live.textContent = "live";
    live.className = "live on";
  };
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  };
  source.onmessage = (message) => onEvent(JSON.parse(message.data));
}

document.addEventListener("DOMContentLoaded", () => {
  refreshTimes();
  setInterval(refreshTimes, 15000);
  if (document.body.dataset.after !== undefined) follow();
});
