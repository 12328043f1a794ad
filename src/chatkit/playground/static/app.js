// The ChatKit playground: a small client that speaks the ChatKit protocol directly.
//
// This module only wires the page together: each part owns its elements and its own state, and
// hears of the others through the callbacks given here. The network side is client.js (requests,
// uploads, the rejoin route); streaming.js runs the one answer on screen, the page's own or a rejoined
// one; conversation.js draws the thread's items; composer.js owns the message box. What stays here is
// which thread is open and what an event from the server means for each part.
//
// Every request is one JSON POST to the endpoint; streaming answers arrive as server-sent events read
// from the response body, so nothing depends on EventSource. Opening a thread whose answer still runs
// (a reload, a second tab) follows that answer through the server's rejoin route. What the page shows
// follows the web component's `ChatKitOptions`, read from the `chatkit-options` script the server fills in.

import { showThreadInAddress, threadIdFromHash } from "./address.js";
import { Banner } from "./banner.js";
import { Client } from "./client.js";
import { Composer, messageContent, userInput } from "./composer.js";
import { Conversation } from "./conversation.js";
import { Follower } from "./follow.js";
import { Inspector } from "./inspector.js";
import { renderMarkdown } from "./markdown.js";
import { pageSettings, parseOptions } from "./options.js";
import { RequestFailed } from "./protocol.js";
import { Settings } from "./settings.js";
import { Streaming } from "./streaming.js";
import { ThreadList, threadLabel } from "./threads.js";
import { isPendingToolCall, toolResult } from "./tools.js";
import { setColorScheme } from "./widgets.js";

const query = new URLSearchParams(location.search);
const ENDPOINT = query.get("endpoint") || document.querySelector('meta[name="chatkit-endpoint"]')?.content || "/chatkit";
const SETTINGS = pageSettings(parseOptions(document.getElementById("chatkit-options")?.textContent));
// Under the server's "finish" policy an answer goes on when its page leaves, so stopping only detaches.
// The page knows the policy of the server that served it, not of one named by `?endpoint=`.
const STOP_DETACHES =
  !query.get("endpoint") && document.querySelector('meta[name="chatkit-disconnect-policy"]')?.content === "finish";
const THREAD_PAGE = Number(query.get("page_size")) || 20;
const ITEM_PAGE = 50;

const $ = (selector) => document.querySelector(selector);
const ui = {
  sidebar: $("#sidebar"),
  backdrop: $("#backdrop"),
  menuToggle: $("#menu-toggle"),
  moreThreads: $("#more-threads"),
  newThread: $("#new-thread"),
  title: $("#thread-title"),
  disclaimer: $("#disclaimer"),
  inspectorPanel: $("#inspector"),
  clearInspector: $("#clear-inspector"),
  openSettings: $("#open-settings"),
};

// Which thread the page shows (none: a new conversation) and where the thread list's next page starts.
const page = { threadId: null, thread: null, threadsAfter: null };

const inspector = new Inspector($("#inspector-log"), $("#inspector-count"));
const inspect = (direction, payload) => inspector.record(direction, payload);
const settings = new Settings(ENDPOINT, { serverScheme: SETTINGS.colorScheme, onChange: settingsChanged });
const client = new Client(ENDPOINT, {
  headers: () => settings.headers(),
  inspect,
  page: location.href,
  directUpload: query.get("upload") === "direct",
});
const banner = new Banner($("#banner"), { onActionFailed: (error, actions) => showError(error, actions) });
const follower = new Follower($("#messages"), $("#jump-latest"), { autoScroll: SETTINGS.autoScroll });
const conversation = new Conversation(
  { messages: $("#messages"), start: $("#start-screen"), greeting: $("#greeting"), prompts: $("#prompts"), progress: $("#progress") },
  follower,
  {
    handlers: {
      actions: SETTINGS.itemActions,
      onWidgetAction: (item, action, el) => runWidgetAction(item, action, el).catch((error) => showError(error)),
      onFeedback: (item, kind) => sendFeedback(item, kind).catch((error) => showError(error)),
      onRetry: (item) => retryFrom(conversation.previousUserMessage(item.id)).catch((error) => showError(error)),
      onCopy: (item, button) => copyText(item, button),
    },
    streaming: () => answer.busy,
    threadOpen: () => Boolean(page.threadId),
  },
);
const answer = new Streaming(client, {
  stopDetaches: STOP_DETACHES,
  onEvent: handleEvent,
  onChange: (view) => {
    document.body.dataset.streaming = String(view.streaming);
    document.body.dataset.rejoined = String(view.rejoined);
    composer.showStreaming(view);
  },
  onEnd: streamEnded,
  onLost: rejoinLost,
  onError: (error) => showError(error),
  isShowing: (threadId) => page.threadId === threadId,
  inspect,
});
const composer = new Composer(
  {
    form: $("#composer"),
    input: $("#composer-input"),
    send: $("#send"),
    stop: $("#stop"),
    attach: $("#attach"),
    fileInput: $("#file-input"),
    pending: $("#pending-attachments"),
  },
  {
    placeholder: SETTINGS.placeholder,
    attachments: SETTINGS.attachments,
    busy: () => answer.busy,
    onSend: (text) => sendMessage(messageContent(text)).catch((error) => showError(error)),
    onStop: () => answer.stopClicked(),
    upload: (file) => client.upload(file),
    onRemoveUploaded: (attachment) =>
      client.call("attachments.delete", { attachment_id: attachment.id }).catch((error) => showError(error)),
    onError: (error) => showError(error),
  },
);
const threadList = new ThreadList($("#thread-list"), {
  onChoose: (threadId) => chooseThread(threadId),
  onDelete: (threadId) => deleteThread(threadId).catch((error) => showError(error)),
});

// -- answers --------------------------------------------------------------------------------

// Streams the answer to a request, then answers a client tool call it may have ended on.
async function stream(type, params) {
  const finished = await answer.run(type, params);
  if (finished) await runPendingClientTool();
  return finished;
}

function streamEnded({ stopped, detached, threadId }) {
  conversation.showProgress(null);
  conversation.settle(stopped);
  const shown = threadId ?? page.threadId;
  if (detached && shown && page.threadId === shown) showDetached(shown);
}

function showDetached(threadId) {
  banner.show("info", "Stopped following this answer; it goes on on the server.", {
    actions: [["Follow again", () => selectThread(threadId, "keep")]],
  });
}

async function rejoinLost(threadId) {
  await selectThread(threadId, "keep", { rejoin: false });
  // A thread that did not load says why itself.
  if (page.thread?.id !== threadId) return;
  banner.show("warning", "This answer can no longer be followed; the thread shows what the server saved of it.", {
    actions: [["Follow again", () => selectThread(threadId, "keep")]],
  });
}

function handleEvent(event) {
  inspect("←", event);
  switch (event.type) {
    case "stream_options":
      answer.setAllowCancel(event.stream_options?.allow_cancel !== false);
      break;
    case "thread.created":
      openThread(event.thread, "push");
      threadList.add(event.thread, true);
      break;
    case "thread.updated":
      page.thread = { ...page.thread, ...event.thread };
      threadList.update(event.thread);
      renderTitle();
      break;
    // Progress stays up while a workflow shows what the work is; other output replaces it.
    case "thread.item.added":
      if (event.item.type !== "workflow") conversation.showProgress(null);
      conversation.put(event.item, true);
      break;
    case "thread.item.done":
    case "thread.item.replaced":
      if (event.item.type !== "workflow") conversation.showProgress(null);
      conversation.put(event.item);
      break;
    case "thread.item.removed":
      conversation.remove(event.item_id);
      break;
    case "thread.item.updated":
      conversation.update(event.item_id, event.update);
      break;
    case "progress_update":
      conversation.showProgress(event);
      break;
    case "error": {
      const failure = new RequestFailed(event.message || `The server could not finish the answer (${event.code}).`, {
        code: event.code,
        requestId: answer.requestId,
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

async function runPendingClientTool() {
  const call = conversation.lastShown();
  if (!isPendingToolCall(call)) return;
  const result = toolResult(call);
  // The server records the output without an event for it, so the page updates its own copy.
  call.status = "completed";
  call.output = result;
  conversation.render(call);
  await stream("threads.add_client_tool_output", { thread_id: page.threadId, result });
}

// -- what the person does -------------------------------------------------------------------

async function sendMessage(content) {
  banner.hide();
  const input = userInput(content, composer.takeAttachments());
  follower.pin();
  if (page.threadId) await stream("threads.add_user_message", { thread_id: page.threadId, input });
  else await stream("threads.create", { input });
}

async function sendFeedback(item, kind) {
  await client.call("items.feedback", { thread_id: page.threadId, item_ids: [item.id], kind });
  item.feedback = kind;
  conversation.render(item);
}

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

async function retryFrom(userMessage) {
  if (!userMessage || answer.busy) return;
  banner.hide();
  conversation.removeAfter(userMessage.id);
  await stream("threads.retry_after_item", { thread_id: page.threadId, item_id: userMessage.id });
}

function retryLastAction() {
  const lastUser = conversation.lastUserMessage();
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
      thread_id: page.threadId,
      item_id: item.id,
      action: { type: action.type, payload: action.payload ?? null },
    });
  } finally {
    if (el) el.classList.remove("busy");
  }
}

// -- threads --------------------------------------------------------------------------------

async function loadThreads(reset) {
  const list = await client.call("threads.list", {
    limit: THREAD_PAGE,
    order: "desc",
    after: reset ? null : page.threadsAfter,
  });
  if (reset) threadList.clear();
  for (const thread of list.data) threadList.add(thread, false);
  page.threadsAfter = list.after ?? null;
  ui.moreThreads.hidden = !list.has_more;
}

function clearThreadView() {
  conversation.clear();
  banner.hide();
}

// `how` is "push" for a thread the person opened (so Back returns), "replace" or "keep" otherwise.
function openThread(thread, how) {
  page.threadId = thread.id;
  page.thread = thread;
  showThreadInAddress(thread.id, how);
  renderTitle();
  threadList.markActive(page.threadId);
  conversation.showStart();
}

function chooseThread(threadId) {
  setMenu(false);
  if (threadId === page.threadId) return;
  selectThread(threadId, "push").catch((error) => showError(error));
}

// `rejoin: false` loads the thread as saved, without following an answer that may still run on it.
async function selectThread(threadId, how, { rejoin = true } = {}) {
  await answer.stop();
  // The old thread leaves the screen at once, whether or not the new one loads.
  clearThreadView();
  page.threadId = threadId;
  page.thread = null;
  showThreadInAddress(threadId, how);
  ui.title.textContent = "Loading…";
  threadList.markActive(page.threadId);
  conversation.showStart();
  let thread;
  try {
    thread = await client.call("threads.get_by_id", { thread_id: threadId });
  } catch (error) {
    if (page.threadId !== threadId) return;
    ui.title.textContent = "Thread unavailable";
    const notFound = error instanceof RequestFailed && error.status === 404;
    showError(error, notFound ? [["Start a new chat", () => newThread("push")]] : [["Retry", () => selectThread(threadId, "keep")]]);
    return;
  }
  if (page.threadId !== threadId) return;
  openThread(thread, "keep");
  for (const item of thread.items.data) conversation.put(item);
  let after = thread.items.after;
  let more = thread.items.has_more;
  while (more && page.threadId === threadId) {
    const items = await client.call("items.list", { thread_id: threadId, after, order: "asc", limit: ITEM_PAGE });
    for (const item of items.data) conversation.put(item);
    after = items.after;
    more = items.has_more && items.data.length > 0;
  }
  if (rejoin && page.threadId === threadId) await answer.resume(threadId);
  follower.pin();
}

async function deleteThread(threadId) {
  await client.call("threads.delete", { thread_id: threadId });
  threadList.remove(threadId);
  if (page.threadId === threadId) newThread("replace");
}

function newThread(how) {
  setMenu(false);
  if (answer.rejoined) {
    answer.stop().then(() => newThread(how));
    return;
  }
  if (answer.busy) return;
  page.threadId = null;
  page.thread = null;
  clearThreadView();
  showThreadInAddress(null, how);
  renderTitle();
  threadList.markActive(page.threadId);
  conversation.showStart();
  composer.focus();
}

async function followHash() {
  const threadId = threadIdFromHash(location.hash);
  if (threadId === (page.threadId ?? "")) return;
  await answer.stop();
  if (threadId) await selectThread(threadId, "keep");
  else newThread("keep");
}

function renderTitle() {
  ui.title.textContent = page.thread ? threadLabel(page.thread) : "New conversation";
}

// -- errors, menu and settings --------------------------------------------------------------

function showError(error, actions = []) {
  if (!(error instanceof RequestFailed)) console.error(error);
  const message = error instanceof RequestFailed ? error.message : `Something went wrong in the page: ${error.message ?? error}`;
  banner.show("error", message, { requestId: error.requestId ?? null, actions });
}

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
  conversation.renderAll();
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
  if (page.threadId) await selectThread(page.threadId, "keep");
}

// -- wiring ---------------------------------------------------------------------------------

ui.newThread.addEventListener("click", () => newThread("push"));
ui.moreThreads.addEventListener("click", () => loadThreads(false).catch((error) => showError(error)));
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

function showDisclaimer() {
  if (!SETTINGS.disclaimer?.text) return;
  ui.disclaimer.innerHTML = renderMarkdown(SETTINGS.disclaimer.text);
  ui.disclaimer.classList.toggle("high-contrast", Boolean(SETTINGS.disclaimer.highContrast));
  ui.disclaimer.hidden = false;
}

async function start() {
  applyColorScheme();
  applyDeveloperMode();
  showDisclaimer();
  conversation.buildStart(SETTINGS.greeting, SETTINGS.prompts, (prompt) => {
    if (answer.busy) return;
    sendMessage(messageContent(prompt.prompt)).catch((error) => showError(error));
  });
  answer.changed();
  renderTitle();
  conversation.showStart();
  composer.fit();
  const fromHash = threadIdFromHash(location.hash);
  if (fromHash) await Promise.all([loadThreads(true), selectThread(fromHash, "keep")]);
  else await loadThreads(true);
}

start()
  .catch((error) => showError(error, [["Retry", () => reloadEverything()]]))
  .finally(() => {
    document.body.dataset.ready = "true";
  });
