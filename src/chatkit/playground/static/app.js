// The ChatKit playground: a small client that speaks the ChatKit protocol directly.
//
// Every request is one JSON POST to the endpoint. Streaming answers arrive as server-sent events
// (`data: <json>` frames) read from the response body, so nothing here depends on EventSource.
// Stopping aborts the fetch: the protocol has no cancel request, the server sees a disconnect.

import { node, renderItemParts } from "./items.js";
import { escapeHtml } from "./markdown.js";
import { RequestFailed, applyUpdate, describeFailure, readEvents } from "./protocol.js";
import { iconGlyph } from "./widgets.js";

const query = new URLSearchParams(location.search);
const ENDPOINT = query.get("endpoint") || document.querySelector('meta[name="chatkit-endpoint"]')?.content || "/chatkit";
const THREAD_PAGE = Number(query.get("page_size")) || 20;
const ITEM_PAGE = 50;
const INSPECTOR_LIMIT = 400;
const HIDDEN_ITEMS = new Set(["hidden_context_item", "sdk_hidden_context", "end_of_turn"]);

const $ = (selector) => document.querySelector(selector);
const ui = {
  threads: $("#thread-list"),
  moreThreads: $("#more-threads"),
  newThread: $("#new-thread"),
  title: $("#thread-title"),
  messages: $("#messages"),
  progress: $("#progress"),
  banner: $("#banner"),
  form: $("#composer"),
  input: $("#composer-input"),
  send: $("#send"),
  stop: $("#stop"),
  attach: $("#attach"),
  fileInput: $("#file-input"),
  pending: $("#pending-attachments"),
  inspector: $("#inspector-log"),
  inspectorCount: $("#inspector-count"),
  clearInspector: $("#clear-inspector"),
};

const state = {
  threadId: null,
  thread: null,
  items: new Map(),
  threadsAfter: null,
  abort: null,
  allowCancel: true,
  attachments: [],
  eventCount: 0,
};

// -- requests -------------------------------------------------------------------------------

async function call(type, params) {
  inspect("→", { type, params });
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ type, params }),
  });
  if (!response.ok) throw new RequestFailed(await describeFailure(response));
  const body = await response.json();
  inspect("←", body);
  return body;
}

async function stream(type, params) {
  if (state.abort) throw new RequestFailed("a response is already streaming");
  inspect("→", { type, params });
  const controller = new AbortController();
  setStreaming(controller);
  let stopped = false;
  try {
    const response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ type, params }),
      signal: controller.signal,
    });
    if (!response.ok) throw new RequestFailed(await describeFailure(response));
    await readEvents(response.body, handleEvent);
  } catch (error) {
    if (error.name !== "AbortError") throw error;
    stopped = true;
    inspect("•", { stopped: true });
  } finally {
    setStreaming(null);
    showProgress(null);
    settleItems();
  }
  if (!stopped) await runPendingClientTool();
  return !stopped;
}

function setStreaming(controller) {
  state.abort = controller;
  document.body.dataset.streaming = controller ? "true" : "false";
  ui.stop.hidden = !controller;
  ui.stop.disabled = !controller || !state.allowCancel;
  ui.send.disabled = Boolean(controller);
}

// -- events ---------------------------------------------------------------------------------

function handleEvent(event) {
  inspect("←", event);
  switch (event.type) {
    case "stream_options":
      state.allowCancel = event.stream_options?.allow_cancel !== false;
      ui.stop.disabled = !state.allowCancel;
      break;
    case "thread.created":
      openThread(event.thread);
      addThreadEntry(event.thread, true);
      break;
    case "thread.updated":
      state.thread = { ...state.thread, ...event.thread };
      updateThreadEntry(event.thread);
      renderTitle();
      break;
    // Progress stays up while a workflow shows what the work is; other output replaces it.
    case "thread.item.added":
      if (event.item.type !== "workflow") showProgress(null);
      putItem(event.item, true);
      break;
    case "thread.item.done":
    case "thread.item.replaced":
      if (event.item.type !== "workflow") showProgress(null);
      putItem(event.item);
      break;
    case "thread.item.removed":
      removeItem(event.item_id);
      break;
    case "thread.item.updated":
      updateItem(event.item_id, event.update);
      break;
    case "progress_update":
      showProgress(event);
      break;
    case "error":
      showBanner("error", event.message || `The server reported an error (${event.code}).`, event.allow_retry);
      break;
    case "notice":
      showBanner(event.level === "danger" ? "error" : event.level, [event.title, event.message].filter(Boolean).join(": "));
      break;
    case "client_effect":
      showBanner("info", `Client effect “${event.name}”: ${JSON.stringify(event.data ?? {})}`);
      break;
    default:
      break;
  }
}

function updateItem(itemId, update) {
  const item = state.items.get(itemId);
  if (item && applyUpdate(item, update)) renderItem(item);
}

// -- client tools ---------------------------------------------------------------------------

const CLIENT_TOOLS = {
  get_browser_info: () => ({
    language: navigator.language,
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    local_time: new Date().toLocaleString(),
    screen: `${window.screen.width}×${window.screen.height}`,
  }),
};

async function runPendingClientTool() {
  const last = [...state.items.values()].filter((item) => !HIDDEN_ITEMS.has(item.type)).at(-1);
  if (!last || last.type !== "client_tool_call" || last.status !== "pending") return;
  const tool = CLIENT_TOOLS[last.name];
  const result = tool ? tool(last.arguments ?? {}) : { error: `the playground has no client tool named ${last.name}` };
  // The server records the output without an event for it, so the page updates its own copy.
  last.status = "completed";
  last.output = result;
  renderItem(last);
  await stream("threads.add_client_tool_output", { thread_id: state.threadId, result });
}

// -- threads --------------------------------------------------------------------------------

async function loadThreads(reset) {
  if (reset) {
    ui.threads.replaceChildren();
    state.threadsAfter = null;
  }
  const page = await call("threads.list", { limit: THREAD_PAGE, order: "desc", after: state.threadsAfter });
  for (const thread of page.data) addThreadEntry(thread, false);
  state.threadsAfter = page.after ?? null;
  ui.moreThreads.hidden = !page.has_more;
}

function threadLabel(thread) {
  return thread.title || `Untitled · ${new Date(thread.created_at).toLocaleString()}`;
}

function addThreadEntry(thread, atTop) {
  if (ui.threads.querySelector(`[data-thread-id="${CSS.escape(thread.id)}"]`)) return;
  const entry = document.createElement("li");
  entry.className = "thread-entry";
  entry.dataset.threadId = thread.id;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "thread-open";
  open.textContent = threadLabel(thread);
  open.addEventListener("click", () => selectThread(thread.id).catch(reportFailure));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "thread-delete";
  remove.title = "Delete thread";
  remove.textContent = "×";
  remove.addEventListener("click", () => deleteThread(thread.id).catch(reportFailure));
  entry.append(open, remove);
  if (atTop) ui.threads.prepend(entry);
  else ui.threads.append(entry);
  markActiveThread();
}

function updateThreadEntry(thread) {
  const entry = ui.threads.querySelector(`[data-thread-id="${CSS.escape(thread.id)}"] .thread-open`);
  if (entry) entry.textContent = threadLabel(thread);
}

function markActiveThread() {
  for (const entry of ui.threads.children) entry.classList.toggle("active", entry.dataset.threadId === state.threadId);
}

function openThread(thread) {
  state.threadId = thread.id;
  state.thread = thread;
  state.items.clear();
  ui.messages.replaceChildren();
  history.replaceState(null, "", `${location.pathname}${location.search}#${encodeURIComponent(thread.id)}`);
  renderTitle();
  markActiveThread();
}

async function selectThread(threadId) {
  if (state.abort) return;
  hideBanner();
  const thread = await call("threads.get_by_id", { thread_id: threadId });
  openThread(thread);
  for (const item of thread.items.data) putItem(item);
  let after = thread.items.after;
  let more = thread.items.has_more;
  while (more) {
    const page = await call("items.list", { thread_id: threadId, after, order: "asc", limit: ITEM_PAGE });
    for (const item of page.data) putItem(item);
    after = page.after;
    more = page.has_more && page.data.length > 0;
  }
  scrollToEnd();
}

async function deleteThread(threadId) {
  await call("threads.delete", { thread_id: threadId });
  ui.threads.querySelector(`[data-thread-id="${CSS.escape(threadId)}"]`)?.remove();
  if (state.threadId === threadId) newThread();
}

function newThread() {
  if (state.abort) return;
  state.threadId = null;
  state.thread = null;
  state.items.clear();
  ui.messages.replaceChildren();
  hideBanner();
  history.replaceState(null, "", `${location.pathname}${location.search}`);
  renderTitle();
  markActiveThread();
  ui.input.focus();
}

function renderTitle() {
  ui.title.textContent = state.thread ? threadLabel(state.thread) : "New conversation";
}

// -- items ----------------------------------------------------------------------------------

// An item between its `added` and `done` events is still streaming: it gets no action buttons yet.
function putItem(item, streaming = false) {
  state.items.set(item.id, { ...structuredClone(item), streaming });
  renderItem(state.items.get(item.id));
  scrollToEnd();
}

function settleItems() {
  for (const item of state.items.values()) {
    if (item.streaming) {
      item.streaming = false;
      renderItem(item);
    }
  }
}

function removeItem(itemId) {
  state.items.delete(itemId);
  ui.messages.querySelector(`[data-item-id="${CSS.escape(itemId)}"]`)?.remove();
}

function renderItem(item) {
  if (HIDDEN_ITEMS.has(item.type)) return;
  let el = ui.messages.querySelector(`[data-item-id="${CSS.escape(item.id)}"]`);
  if (!el) {
    el = document.createElement("article");
    el.dataset.itemId = item.id;
    ui.messages.append(el);
  }
  el.className = `item item-${item.type}`;
  el.dataset.type = item.type;
  el.replaceChildren(...renderItemParts(item, ITEM_HANDLERS));
}

const ITEM_HANDLERS = {
  onWidgetAction: (item, action, el) => runWidgetAction(item, action, el).catch(reportFailure),
  onFeedback: (item, kind) =>
    call("items.feedback", { thread_id: state.threadId, item_ids: [item.id], kind })
      .then(() => {
        item.feedback = kind;
        renderItem(item);
      })
      .catch(reportFailure),
  onRetry: (item) => retryFrom(previousUserMessage(item.id)).catch(reportFailure),
};

function previousUserMessage(itemId) {
  let found = null;
  for (const item of state.items.values()) {
    if (item.id === itemId) return found;
    if (item.type === "user_message") found = item;
  }
  return found;
}

async function retryFrom(userMessage) {
  if (!userMessage || state.abort) return;
  hideBanner();
  const ids = [...state.items.keys()];
  for (const id of ids.slice(ids.indexOf(userMessage.id) + 1)) removeItem(id);
  await stream("threads.retry_after_item", { thread_id: state.threadId, item_id: userMessage.id });
}

async function runWidgetAction(item, action, el) {
  if (action.handler === "client") {
    showBanner("info", `Client action “${action.type}” (the playground has no client handlers).`);
    return;
  }
  if (el) el.classList.add("busy");
  try {
    await stream("threads.custom_action", {
      thread_id: state.threadId,
      item_id: item.id,
      action: { type: action.type, payload: action.payload ?? null },
    });
  } finally {
    if (el) el.classList.remove("busy");
  }
}

// -- composer and attachments ---------------------------------------------------------------

async function send(text) {
  hideBanner();
  const input = {
    content: [{ type: "input_text", text }],
    attachments: state.attachments.filter((entry) => entry.attachment).map((entry) => entry.attachment.id),
    quoted_text: null,
    inference_options: {},
  };
  state.attachments = [];
  renderPendingAttachments();
  if (state.threadId) await stream("threads.add_user_message", { thread_id: state.threadId, input });
  else await stream("threads.create", { input });
}

async function uploadTwoPhase(file) {
  const attachment = await call("attachments.create", {
    name: file.name,
    size: file.size,
    mime_type: file.type || "application/octet-stream",
  });
  const descriptor = attachment.upload_descriptor;
  if (!descriptor) return attachment;
  const response = await fetch(descriptor.url, { method: descriptor.method, headers: descriptor.headers ?? {}, body: file });
  if (!response.ok) throw new RequestFailed(`upload failed: ${await describeFailure(response)}`);
  const text = await response.text();
  try {
    const uploaded = JSON.parse(text);
    if (uploaded && uploaded.id === attachment.id) return uploaded;
  } catch {
    // An upload endpoint may answer with an empty body; the created attachment stands.
  }
  return { ...attachment, upload_descriptor: null };
}

async function uploadDirect(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await fetch(`${ENDPOINT}/upload`, { method: "POST", body: form });
  if (!response.ok) throw new RequestFailed(`upload failed: ${await describeFailure(response)}`);
  return response.json();
}

async function addFiles(files) {
  for (const file of files) {
    const entry = { file, attachment: null, preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null };
    state.attachments.push(entry);
    renderPendingAttachments();
    try {
      entry.attachment = query.get("upload") === "direct" ? await uploadDirect(file) : await uploadTwoPhase(file);
      inspect("•", { uploaded: entry.attachment });
    } catch (error) {
      state.attachments.splice(state.attachments.indexOf(entry), 1);
      reportFailure(error);
    }
    renderPendingAttachments();
  }
}

function renderPendingAttachments() {
  ui.pending.replaceChildren(
    ...state.attachments.map((entry) => {
      const chip = node("span", `attachment pending${entry.attachment ? " uploaded" : ""}`);
      if (entry.preview) {
        const img = node("img", "attachment-preview");
        img.src = entry.preview;
        img.alt = entry.file.name;
        chip.append(img);
      }
      chip.append(node("span", "attachment-name", entry.file.name));
      const remove = node("button", "attachment-remove", "×");
      remove.type = "button";
      remove.title = "Remove attachment";
      remove.addEventListener("click", () => {
        state.attachments.splice(state.attachments.indexOf(entry), 1);
        renderPendingAttachments();
        if (entry.attachment) call("attachments.delete", { attachment_id: entry.attachment.id }).catch(reportFailure);
      });
      chip.append(remove);
      return chip;
    }),
  );
  ui.pending.hidden = state.attachments.length === 0;
}

// -- status, errors and the inspector -------------------------------------------------------

function showProgress(event) {
  ui.progress.hidden = !event;
  ui.progress.textContent = event ? `${event.icon ? `${iconGlyph(event.icon)} ` : ""}${event.text}` : "";
}

function showBanner(level, message, allowRetry = false) {
  ui.banner.hidden = false;
  ui.banner.className = `banner banner-${level}`;
  ui.banner.replaceChildren(node("span", null, message));
  if (allowRetry) {
    const lastUser = [...state.items.values()].filter((item) => item.type === "user_message").at(-1);
    if (lastUser) {
      const retry = node("button", "retry", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => retryFrom(lastUser).catch(reportFailure));
      ui.banner.append(retry);
    }
  }
  const close = node("button", "banner-close", "×");
  close.type = "button";
  close.addEventListener("click", hideBanner);
  ui.banner.append(close);
}

function hideBanner() {
  ui.banner.hidden = true;
}

function reportFailure(error) {
  console.error(error);
  showBanner("error", error instanceof RequestFailed ? error.message : `Something went wrong: ${error.message ?? error}`);
}

function inspect(direction, payload) {
  state.eventCount += 1;
  ui.inspectorCount.textContent = String(state.eventCount);
  const line = node("div", `inspector-line inspector-${direction === "→" ? "out" : "in"}`);
  line.innerHTML = `<span class="dir">${escapeHtml(direction)}</span> ${escapeHtml(JSON.stringify(payload))}`;
  ui.inspector.append(line);
  while (ui.inspector.childElementCount > INSPECTOR_LIMIT) ui.inspector.firstElementChild.remove();
  ui.inspector.scrollTop = ui.inspector.scrollHeight;
}

function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

// -- wiring ---------------------------------------------------------------------------------

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value.trim();
  if (!text || state.abort || state.attachments.some((entry) => !entry.attachment)) return;
  ui.input.value = "";
  send(text).catch(reportFailure);
});
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.stop.addEventListener("click", () => state.abort?.abort());
ui.newThread.addEventListener("click", newThread);
ui.moreThreads.addEventListener("click", () => loadThreads(false).catch(reportFailure));
ui.attach.addEventListener("click", () => ui.fileInput.click());
ui.fileInput.addEventListener("change", () => {
  const files = [...ui.fileInput.files];
  ui.fileInput.value = "";
  addFiles(files);
});
ui.clearInspector.addEventListener("click", () => {
  ui.inspector.replaceChildren();
  state.eventCount = 0;
  ui.inspectorCount.textContent = "0";
});

async function start() {
  setStreaming(null);
  renderTitle();
  await loadThreads(true);
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) await selectThread(fromHash);
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  reportFailure(error);
  document.body.dataset.ready = "true";
});
