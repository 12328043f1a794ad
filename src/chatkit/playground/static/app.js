// The ChatKit playground: a small client that speaks the ChatKit protocol directly.
//
// Every request is one JSON POST to the endpoint. Streaming answers arrive as server-sent events
// (`data: <json>` frames) read from the response body, so nothing here depends on EventSource.
// Stopping aborts the fetch: the protocol has no cancel request, the server sees a disconnect.
// Opening a thread whose answer is still running (a reload, a second tab) follows that answer through
// the server's rejoin route, `GET <endpoint>/threads/{id}/stream`; leaving it only detaches the page.
// What the page shows follows the web component's `ChatKitOptions` (names included), read from
// the `chatkit-options` script the server fills in.

import { PendingAttachments } from "./attachments.js";
import { Banner } from "./banner.js";
import { Follower } from "./follow.js";
import { Inspector } from "./inspector.js";
import { node, renderItemParts } from "./items.js";
import { renderMarkdown } from "./markdown.js";
import { RequestFailed, applyUpdate, describeFailure, readEvents, requestInit } from "./protocol.js";
import { Settings } from "./settings.js";
import { ThreadList, threadLabel } from "./threads.js";
import { iconGlyph, setColorScheme } from "./widgets.js";

const query = new URLSearchParams(location.search);
const ENDPOINT = query.get("endpoint") || document.querySelector('meta[name="chatkit-endpoint"]')?.content || "/chatkit";
const OPTIONS = readOptions();
// Under the server's "finish" policy an answer goes on when its page leaves, so stopping only detaches.
// The page knows the policy of the server that served it, not of one named by `?endpoint=`.
const STOP_DETACHES =
  !query.get("endpoint") && document.querySelector('meta[name="chatkit-disconnect-policy"]')?.content === "finish";
const THREAD_PAGE = Number(query.get("page_size")) || 20;
const ITEM_PAGE = 50;
const HIDDEN_ITEMS = new Set(["hidden_context_item", "sdk_hidden_context", "end_of_turn"]);
const COMPOSER_MAX_PX = 200;

// The playground is a tool for trying servers out: unlike the component it shows everything by default.
const SETTINGS = {
  greeting: OPTIONS.startScreen?.greeting ?? "What can I help with today?",
  prompts: OPTIONS.startScreen?.prompts ?? [],
  placeholder: OPTIONS.composer?.placeholder ?? "Message the AI",
  attachments: OPTIONS.composer?.attachments?.enabled ?? true,
  itemActions: { feedback: OPTIONS.threadItemActions?.feedback ?? true, retry: OPTIONS.threadItemActions?.retry ?? true },
  autoScroll: OPTIONS.thread?.autoScroll ?? true,
  disclaimer: OPTIONS.disclaimer ?? null,
  colorScheme: typeof OPTIONS.theme === "string" ? OPTIONS.theme : OPTIONS.theme?.colorScheme ?? null,
};

const $ = (selector) => document.querySelector(selector);
const ui = {
  sidebar: $("#sidebar"),
  backdrop: $("#backdrop"),
  menuToggle: $("#menu-toggle"),
  threads: $("#thread-list"),
  moreThreads: $("#more-threads"),
  newThread: $("#new-thread"),
  title: $("#thread-title"),
  start: $("#start-screen"),
  greeting: $("#greeting"),
  prompts: $("#prompts"),
  messages: $("#messages"),
  jump: $("#jump-latest"),
  progress: $("#progress"),
  banner: $("#banner"),
  form: $("#composer"),
  input: $("#composer-input"),
  send: $("#send"),
  stop: $("#stop"),
  attach: $("#attach"),
  fileInput: $("#file-input"),
  pending: $("#pending-attachments"),
  disclaimer: $("#disclaimer"),
  inspectorPanel: $("#inspector"),
  inspector: $("#inspector-log"),
  inspectorCount: $("#inspector-count"),
  clearInspector: $("#clear-inspector"),
  openSettings: $("#open-settings"),
};

const state = {
  threadId: null,
  thread: null,
  items: new Map(),
  threadsAfter: null,
  abort: null,
  streamDone: Promise.resolve(),
  // While the page follows a running answer through the rejoin route: the request before it answers,
  // whether the stream shown is such a rejoin, and whether the person asked to stop following it.
  resuming: null,
  rejoined: false,
  detached: false,
  allowCancel: true,
  requestId: null,
};

const follower = new Follower(ui.messages, ui.jump, { autoScroll: SETTINGS.autoScroll });
const banner = new Banner(ui.banner, { onActionFailed: (error, actions) => showError(error, actions) });
const pending = new PendingAttachments(ui.pending, {
  onRemove: (entry) => {
    if (entry.attachment) call("attachments.delete", { attachment_id: entry.attachment.id }).catch((error) => showError(error));
  },
});
const inspector = new Inspector(ui.inspector, ui.inspectorCount);
const threadList = new ThreadList(ui.threads, {
  onChoose: (threadId) => chooseThread(threadId),
  onDelete: (threadId) => deleteThread(threadId).catch((error) => showError(error)),
});
const settings = new Settings(ENDPOINT, { serverScheme: SETTINGS.colorScheme, onChange: settingsChanged });

function readOptions() {
  try {
    return JSON.parse(document.getElementById("chatkit-options")?.textContent || "{}") ?? {};
  } catch {
    return {};
  }
}

// -- requests -------------------------------------------------------------------------------

function withHeaders(extra) {
  return { ...settings.headers(), ...extra };
}

// Fetch failing outright (no answer at all) says "Failed to fetch"; say which server did not answer.
async function reach(url, init) {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new RequestFailed(`Cannot reach the server at ${new URL(url, location.href).href}: is it running?`, {
      code: "network",
    });
  }
}

async function call(type, params) {
  inspect("→", { type, params });
  const response = await reach(ENDPOINT, requestInit(type, params, "application/json", settings.headers()));
  if (!response.ok) throw await describeFailure(response);
  const body = await response.json();
  inspect("←", body);
  return body;
}

async function stream(type, params) {
  if (state.abort) throw new RequestFailed("An answer is still streaming: stop it first.");
  inspect("→", { type, params });
  const controller = new AbortController();
  let finished;
  state.streamDone = new Promise((resolve) => {
    finished = resolve;
  });
  setStreaming(controller);
  let stopped = false;
  try {
    const response = await reach(
      ENDPOINT,
      requestInit(type, params, "text/event-stream", settings.headers(), controller.signal),
    );
    state.requestId = response.headers.get("x-request-id");
    if (!response.ok) throw await describeFailure(response);
    await readEvents(response.body, handleEvent);
  } catch (error) {
    if (error.name !== "AbortError") throw error;
    stopped = true;
    inspect("•", STOP_DETACHES ? { detached: true } : { stopped: true });
  } finally {
    const detached = state.detached;
    state.detached = false;
    setStreaming(null);
    showProgress(null);
    settleItems(stopped && !STOP_DETACHES);
    finished();
    if (detached && state.threadId) showDetached(state.threadId);
  }
  if (!stopped) await runPendingClientTool();
  return !stopped;
}

async function stopStreaming() {
  state.resuming?.abort();
  if (!state.abort) return;
  state.abort.abort();
  await state.streamDone;
}

// A rejoined answer is not this page's request, and under "finish" no answer stops with its page:
// the stop button then only stops following, which is always allowed.
function setStreaming(controller, { rejoined = false } = {}) {
  state.abort = controller;
  state.rejoined = Boolean(controller) && rejoined;
  const detaches = state.rejoined || STOP_DETACHES;
  document.body.dataset.streaming = controller ? "true" : "false";
  document.body.dataset.rejoined = state.rejoined ? "true" : "false";
  ui.stop.hidden = !controller;
  ui.send.hidden = Boolean(controller);
  ui.stop.disabled = !controller || (!detaches && !state.allowCancel);
  ui.stop.title = detaches ? "Stop following (the answer goes on on the server)" : "Stop";
  ui.stop.setAttribute("aria-label", ui.stop.title);
}

function stopClicked() {
  if (!state.abort) return;
  state.detached = state.rejoined || STOP_DETACHES;
  state.abort.abort();
}

function showDetached(threadId) {
  banner.show("info", "Stopped following this answer; it goes on on the server.", {
    actions: [["Follow again", () => selectThread(threadId, "keep")]],
  });
}

// -- rejoining a running answer -------------------------------------------------------------

// Asks the server whether an answer runs on the thread and, if so, follows it in the background.
async function resume(threadId) {
  if (state.abort || state.threadId !== threadId) return;
  const controller = new AbortController();
  state.resuming = controller;
  const url = `${ENDPOINT}/threads/${encodeURIComponent(threadId)}/stream?after=0`;
  inspect("→", { GET: url });
  let response;
  try {
    response = await reach(url, { headers: withHeaders({ Accept: "text/event-stream" }), signal: controller.signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    throw error;
  } finally {
    if (state.resuming === controller) state.resuming = null;
  }
  // 204: nothing runs; 404 (or any refusal): nothing to follow, the thread shows as it was loaded.
  const current = !controller.signal.aborted && state.threadId === threadId && !state.abort;
  if (response.status !== 200 || !current) {
    inspect("←", { status: response.status });
    await response.body?.cancel();
    return;
  }
  state.requestId = response.headers.get("x-request-id");
  followTurn(threadId, response, controller).catch((error) => showError(error));
}

// Replays the running turn from its first frame: `putItem` replaces items by id, so what the loaded
// thread already shows is redrawn in place and the rest is added, as the original page saw it.
async function followTurn(threadId, response, controller) {
  let finished;
  state.streamDone = new Promise((resolve) => {
    finished = resolve;
  });
  state.detached = false;
  setStreaming(controller, { rejoined: true });
  let lost = false;
  try {
    await readEvents(response.body, (event, id) => {
      if (state.threadId !== threadId) return;
      // The closing `error` without an id: the turn can no longer be followed; the store has what it saved.
      if (event.type === "error" && id === null) {
        inspect("←", event);
        lost = true;
        return;
      }
      // The thread is already open, and stopping a rejoin is always allowed.
      if (event.type === "thread.created" || event.type === "stream_options") {
        inspect("←", event);
        return;
      }
      handleEvent(event);
    });
  } catch (error) {
    if (error.name === "AbortError") inspect("•", { detached: true });
    else lost = true;
  } finally {
    const detached = state.detached;
    state.detached = false;
    setStreaming(null);
    showProgress(null);
    // Leaving a rejoined answer does not stop it: nothing is marked "Stopped".
    settleItems(false);
    finished();
    if (detached && state.threadId === threadId) showDetached(threadId);
  }
  if (!lost || state.threadId !== threadId) return;
  await selectThread(threadId, "keep", { rejoin: false });
  // A thread that did not load says why itself.
  if (state.thread?.id !== threadId) return;
  banner.show("warning", "This answer can no longer be followed; the thread shows what the server saved of it.", {
    actions: [["Follow again", () => selectThread(threadId, "keep")]],
  });
}

// -- events ---------------------------------------------------------------------------------

function handleEvent(event) {
  inspect("←", event);
  switch (event.type) {
    case "stream_options":
      state.allowCancel = event.stream_options?.allow_cancel !== false;
      ui.stop.disabled = !state.allowCancel && !STOP_DETACHES;
      break;
    case "thread.created":
      openThread(event.thread, "push");
      threadList.add(event.thread, true);
      break;
    case "thread.updated":
      state.thread = { ...state.thread, ...event.thread };
      threadList.update(event.thread);
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
    case "error": {
      const failure = new RequestFailed(event.message || `The server could not finish the answer (${event.code}).`, {
        code: event.code,
        requestId: state.requestId,
      });
      showError(failure, event.allow_retry ? retryLastAction() : []);
      break;
    }
    case "notice":
      banner.show(event.level === "danger" ? "error" : event.level, [event.title, event.message].filter(Boolean).join(": "));
      break;
    case "client_effect":
      banner.show("info", `Client effect “${event.name}”: ${JSON.stringify(event.data ?? {})}`);
      break;
    default:
      break;
  }
}

function updateItem(itemId, update) {
  const item = state.items.get(itemId);
  if (item && applyUpdate(item, update)) {
    renderItem(item);
    follower.contentChanged(Boolean(state.abort));
  }
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
  const page = await call("threads.list", { limit: THREAD_PAGE, order: "desc", after: reset ? null : state.threadsAfter });
  if (reset) threadList.clear();
  for (const thread of page.data) threadList.add(thread, false);
  state.threadsAfter = page.after ?? null;
  ui.moreThreads.hidden = !page.has_more;
}

function threadIdFromHash() {
  return decodeURIComponent(location.hash.slice(1));
}

// `history` is "push" for a thread the person opened (so Back returns), "replace" or "keep" otherwise.
function setLocation(threadId, history_) {
  if (history_ === "keep") return;
  const url = `${location.pathname}${location.search}${threadId ? `#${encodeURIComponent(threadId)}` : ""}`;
  if (url === `${location.pathname}${location.search}${location.hash}`) return;
  if (history_ === "push") history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function clearThreadView() {
  state.items.clear();
  ui.messages.replaceChildren();
  banner.hide();
  follower.pin();
}

function openThread(thread, history_) {
  state.threadId = thread.id;
  state.thread = thread;
  setLocation(thread.id, history_);
  renderTitle();
  threadList.markActive(state.threadId);
  renderStartScreen();
}

function chooseThread(threadId) {
  setMenu(false);
  if (threadId === state.threadId) return;
  selectThread(threadId, "push").catch((error) => showError(error));
}

// `rejoin: false` loads the thread as saved, without following an answer that may still run on it.
async function selectThread(threadId, history_, { rejoin = true } = {}) {
  await stopStreaming();
  // The old thread leaves the screen at once, whether or not the new one loads.
  clearThreadView();
  state.threadId = threadId;
  state.thread = null;
  setLocation(threadId, history_);
  ui.title.textContent = "Loading…";
  threadList.markActive(state.threadId);
  renderStartScreen();
  let thread;
  try {
    thread = await call("threads.get_by_id", { thread_id: threadId });
  } catch (error) {
    if (state.threadId !== threadId) return;
    ui.title.textContent = "Thread unavailable";
    const notFound = error instanceof RequestFailed && error.status === 404;
    showError(error, notFound ? [["Start a new chat", () => newThread("push")]] : [["Retry", () => selectThread(threadId, "keep")]]);
    return;
  }
  if (state.threadId !== threadId) return;
  openThread(thread, "keep");
  for (const item of thread.items.data) putItem(item);
  let after = thread.items.after;
  let more = thread.items.has_more;
  while (more && state.threadId === threadId) {
    const page = await call("items.list", { thread_id: threadId, after, order: "asc", limit: ITEM_PAGE });
    for (const item of page.data) putItem(item);
    after = page.after;
    more = page.has_more && page.data.length > 0;
  }
  if (rejoin && state.threadId === threadId) await resume(threadId);
  follower.pin();
}

async function deleteThread(threadId) {
  await call("threads.delete", { thread_id: threadId });
  threadList.remove(threadId);
  if (state.threadId === threadId) newThread("replace");
}

function newThread(history_) {
  setMenu(false);
  if (state.rejoined) {
    stopStreaming().then(() => newThread(history_));
    return;
  }
  if (state.abort) return;
  state.threadId = null;
  state.thread = null;
  clearThreadView();
  setLocation(null, history_);
  renderTitle();
  threadList.markActive(state.threadId);
  renderStartScreen();
  ui.input.focus();
}

async function followHash() {
  const threadId = threadIdFromHash();
  if (threadId === (state.threadId ?? "")) return;
  await stopStreaming();
  if (threadId) await selectThread(threadId, "keep");
  else newThread("keep");
}

function renderTitle() {
  ui.title.textContent = state.thread ? threadLabel(state.thread) : "New conversation";
}

// -- start screen ---------------------------------------------------------------------------

function renderStartScreen() {
  ui.start.hidden = Boolean(state.threadId) || state.items.size > 0;
  ui.messages.hidden = !ui.start.hidden;
}

function buildStartScreen() {
  ui.greeting.textContent = SETTINGS.greeting;
  ui.prompts.replaceChildren(
    ...SETTINGS.prompts.map((prompt) => {
      const button = node("button", "start-prompt");
      button.type = "button";
      if (prompt.icon) button.append(node("span", "start-prompt-icon", iconGlyph(prompt.icon)));
      button.append(node("span", null, prompt.label));
      button.addEventListener("click", () => {
        if (state.abort) return;
        const content = typeof prompt.prompt === "string" ? [{ type: "input_text", text: prompt.prompt }] : prompt.prompt;
        sendMessage(content).catch((error) => showError(error));
      });
      return button;
    }),
  );
}

// -- items ----------------------------------------------------------------------------------

// An item between its `added` and `done` events is still streaming: it gets no action buttons yet.
function putItem(item, streaming = false) {
  const previous = state.items.get(item.id);
  state.items.set(item.id, { ...structuredClone(item), streaming, stopped: previous?.stopped ?? false });
  renderItem(state.items.get(item.id));
  renderStartScreen();
  // The person's own message always brings the view down; the rest follows only if they are there.
  if (item.type === "user_message") follower.pin();
  else follower.contentChanged(Boolean(state.abort));
}

// When a stream ends the items it left open are final; a stopped answer is marked as such.
function settleItems(stopped) {
  let marked = false;
  for (const item of state.items.values()) {
    if (!item.streaming) continue;
    item.streaming = false;
    if (stopped && item.type === "assistant_message") {
      item.stopped = true;
      marked = true;
    }
    renderItem(item);
  }
  if (stopped && !marked && state.threadId) {
    const id = `stopped_${Date.now()}`;
    state.items.set(id, { id, type: "stopped_note" });
    renderItem(state.items.get(id));
  }
  follower.contentChanged(false);
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
  el.className = `item item-${item.type}${item.stopped ? " stopped" : ""}`;
  el.dataset.type = item.type;
  el.replaceChildren(...renderItemParts(item, ITEM_HANDLERS));
}

function renderAllItems() {
  for (const item of state.items.values()) renderItem(item);
}

const ITEM_HANDLERS = {
  actions: SETTINGS.itemActions,
  onWidgetAction: (item, action, el) => runWidgetAction(item, action, el).catch((error) => showError(error)),
  onFeedback: (item, kind) =>
    call("items.feedback", { thread_id: state.threadId, item_ids: [item.id], kind })
      .then(() => {
        item.feedback = kind;
        renderItem(item);
      })
      .catch((error) => showError(error)),
  onRetry: (item) => retryFrom(previousUserMessage(item.id)).catch((error) => showError(error)),
  onCopy: (item, button) => copyText(item, button),
};

async function copyText(item, button) {
  const text = item.content.map((part) => part.text).join("\n");
  try {
    await navigator.clipboard.writeText(text);
    button.classList.add("done");
    button.title = "Copied";
  } catch {
    banner.show("warning", "The browser did not allow copying (clipboard access needs https or localhost).");
  }
}

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
  banner.hide();
  const ids = [...state.items.keys()];
  for (const id of ids.slice(ids.indexOf(userMessage.id) + 1)) removeItem(id);
  await stream("threads.retry_after_item", { thread_id: state.threadId, item_id: userMessage.id });
}

function retryLastAction() {
  const lastUser = [...state.items.values()].filter((item) => item.type === "user_message").at(-1);
  return lastUser ? [["Retry", () => retryFrom(lastUser)]] : [];
}

async function runWidgetAction(item, action, el) {
  if (action.handler === "client") {
    banner.show("info", `Client action “${action.type}” (the playground has no client handlers).`);
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

async function sendMessage(content) {
  banner.hide();
  const input = {
    content,
    attachments: pending.uploadedIds(),
    quoted_text: null,
    inference_options: {},
  };
  pending.clear();
  follower.pin();
  if (state.threadId) await stream("threads.add_user_message", { thread_id: state.threadId, input });
  else await stream("threads.create", { input });
}

function fitComposer() {
  ui.input.style.height = "auto";
  const wanted = ui.input.scrollHeight;
  ui.input.style.height = `${Math.min(wanted, COMPOSER_MAX_PX)}px`;
  ui.input.style.overflowY = wanted > COMPOSER_MAX_PX ? "auto" : "hidden";
}

async function uploadTwoPhase(file) {
  const attachment = await call("attachments.create", {
    name: file.name,
    size: file.size,
    mime_type: file.type || "application/octet-stream",
  });
  const descriptor = attachment.upload_descriptor;
  if (!descriptor) return attachment;
  const response = await reach(descriptor.url, { method: descriptor.method, headers: descriptor.headers ?? {}, body: file });
  if (!response.ok) throw await describeFailure(response);
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
  const response = await reach(`${ENDPOINT}/upload`, { method: "POST", headers: withHeaders({}), body: form });
  if (!response.ok) throw await describeFailure(response);
  return response.json();
}

async function addFiles(files) {
  for (const file of files) {
    const entry = pending.add(file);
    try {
      entry.attachment = query.get("upload") === "direct" ? await uploadDirect(file) : await uploadTwoPhase(file);
      inspect("•", { uploaded: entry.attachment });
    } catch (error) {
      pending.drop(entry);
      showError(error instanceof RequestFailed ? new RequestFailed(`Upload of ${file.name} failed: ${error.message}`, error) : error);
    }
    pending.render();
  }
}

// -- status and errors ----------------------------------------------------------------------

function showProgress(event) {
  ui.progress.hidden = !event;
  ui.progress.textContent = event ? `${event.icon ? `${iconGlyph(event.icon)} ` : ""}${event.text}` : "";
}

function showError(error, actions = []) {
  if (!(error instanceof RequestFailed)) console.error(error);
  const message = error instanceof RequestFailed ? error.message : `Something went wrong in the page: ${error.message ?? error}`;
  banner.show("error", message, { requestId: error.requestId ?? null, actions });
}

function inspect(direction, payload) {
  inspector.record(direction, payload);
}

// -- menu, settings and colour scheme -------------------------------------------------------

function setMenu(open) {
  document.body.classList.toggle("menu-open", open);
  ui.menuToggle.setAttribute("aria-expanded", String(open));
  ui.backdrop.hidden = !open;
}

function applyColorScheme() {
  const scheme = settings.colorScheme();
  if (document.documentElement.dataset.colorScheme === scheme) return;
  document.documentElement.dataset.colorScheme = scheme;
  setColorScheme(scheme);
  renderAllItems();
}

function applyDeveloperMode() {
  ui.inspectorPanel.hidden = !settings.developerMode();
}

function settingsChanged({ headersChanged }) {
  applyColorScheme();
  applyDeveloperMode();
  // Other headers may mean another user: what the page shows came from the old ones.
  if (headersChanged) reloadEverything().catch((error) => showError(error));
}

async function reloadEverything() {
  banner.hide();
  await loadThreads(true);
  if (state.threadId) await selectThread(state.threadId, "keep");
}

// -- wiring ---------------------------------------------------------------------------------

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value.trim();
  if (!text || state.abort || pending.uploading()) return;
  ui.input.value = "";
  fitComposer();
  sendMessage([{ type: "input_text", text }]).catch((error) => showError(error));
});
ui.input.addEventListener("keydown", (event) => {
  // Enter sends, Shift+Enter breaks the line; a composing input method keeps its Enter.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.input.addEventListener("input", fitComposer);
ui.stop.addEventListener("click", stopClicked);
ui.newThread.addEventListener("click", () => newThread("push"));
ui.moreThreads.addEventListener("click", () => loadThreads(false).catch((error) => showError(error)));
ui.attach.addEventListener("click", () => ui.fileInput.click());
ui.fileInput.addEventListener("change", () => {
  const files = [...ui.fileInput.files];
  ui.fileInput.value = "";
  addFiles(files);
});
ui.clearInspector.addEventListener("click", () => inspector.clear());
ui.menuToggle.addEventListener("click", () => setMenu(!document.body.classList.contains("menu-open")));
ui.backdrop.addEventListener("click", () => setMenu(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") setMenu(false);
});
ui.openSettings.addEventListener("click", () => {
  setMenu(false);
  settings.open();
});
window.addEventListener("hashchange", () => followHash().catch((error) => showError(error)));

function applyOptions() {
  ui.input.placeholder = SETTINGS.placeholder;
  ui.attach.hidden = !SETTINGS.attachments;
  if (SETTINGS.disclaimer?.text) {
    ui.disclaimer.innerHTML = renderMarkdown(SETTINGS.disclaimer.text);
    ui.disclaimer.classList.toggle("high-contrast", Boolean(SETTINGS.disclaimer.highContrast));
    ui.disclaimer.hidden = false;
  }
  buildStartScreen();
}

async function start() {
  applyColorScheme();
  applyDeveloperMode();
  applyOptions();
  setStreaming(null);
  renderTitle();
  renderStartScreen();
  fitComposer();
  const fromHash = threadIdFromHash();
  if (fromHash) await Promise.all([loadThreads(true), selectThread(fromHash, "keep")]);
  else await loadThreads(true);
}

start()
  .catch((error) => showError(error, [["Retry", () => reloadEverything()]]))
  .finally(() => {
    document.body.dataset.ready = "true";
  });
