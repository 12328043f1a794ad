// The ChatKit playground: a small client that speaks the ChatKit protocol directly.
//
// This module only wires the page together: each part owns its elements and its own state, and
// hears of the others through the callbacks given here. The network side is client.js (requests,
// uploads, the rejoin route); streaming.js runs the one answer on screen, the page's own or a rejoined
// one; conversation.js draws the thread's items; composer.js owns the message box; navigation.js knows
// which thread is open. What stays here is what an event from the server, or a click on an item,
// means for each part.
//
// Every request is one JSON POST to the endpoint; streaming answers arrive as server-sent events read
// from the response body, so nothing depends on EventSource. Opening a thread whose answer still runs
// (a reload, a second tab) follows that answer through the server's rejoin route. What the page shows
// follows the web component's `ChatKitOptions`, read from the `chatkit-options` script the server fills in.

import { threadIdFromHash } from "./address.js";
import { Banner } from "./banner.js";
import { Client } from "./client.js";
import { Composer, messageContent, userInput } from "./composer.js";
import { Conversation } from "./conversation.js";
import { showEvent } from "./events.js";
import { download, threadJson, threadMarkdown } from "./export.js";
import { Follower } from "./follow.js";
import { Inspector } from "./inspector.js";
import { renderMarkdown } from "./markdown.js";
import { Navigation } from "./navigation.js";
import { pageSettings, parseOptions } from "./options.js";
import { RequestFailed } from "./protocol.js";
import { Settings } from "./settings.js";
import { Streaming } from "./streaming.js";
import { ThreadList } from "./threads.js";
import { isPendingToolCall, toolResult } from "./tools.js";
import { setColorScheme } from "./widgets.js";

const query = new URLSearchParams(location.search);
const ENDPOINT = query.get("endpoint") || document.querySelector('meta[name="chatkit-endpoint"]')?.content || "/chatkit";
const SETTINGS = pageSettings(parseOptions(document.getElementById("chatkit-options")?.textContent));
// Under the server's "finish" policy an answer goes on when its page leaves, so stopping only detaches.
// The page knows the policy of the server that served it, not of one named by `?endpoint=`.
const STOP_DETACHES =
  !query.get("endpoint") && document.querySelector('meta[name="chatkit-disconnect-policy"]')?.content === "finish";
// The server that served the page has this package's own routes (stop, stopped answers,
// capabilities); one named by `?endpoint=` may not.
const OWN_ROUTES = !query.get("endpoint");
const THREAD_PAGE = Number(query.get("page_size")) || 20;
const ITEM_PAGE = 50;

const $ = (selector) => document.querySelector(selector);
const ui = {
  backdrop: $("#backdrop"),
  menuToggle: $("#menu-toggle"),
  moreThreads: $("#more-threads"),
  newThread: $("#new-thread"),
  disclaimer: $("#disclaimer"),
  inspectorPanel: $("#inspector"),
  clearInspector: $("#clear-inspector"),
  openSettings: $("#open-settings"),
};

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
const conversation = new Conversation(
  {
    messages: $("#messages"),
    start: $("#start-screen"),
    greeting: $("#greeting"),
    prompts: $("#prompts"),
    progress: $("#progress"),
  },
  new Follower($("#messages"), $("#jump-latest"), { autoScroll: SETTINGS.autoScroll }),
  {
    handlers: {
      actions: SETTINGS.itemActions,
      onWidgetAction: (item, action, el) => runWidgetAction(item, action, el).catch((error) => showError(error)),
      onFeedback: (item, kind) => sendFeedback(item, kind).catch((error) => showError(error)),
      onRetry: (item) => retryFrom(conversation.previousUserMessage(item.id)).catch((error) => showError(error)),
      onCopy: (item, button) => copyText(item, button),
    },
    streaming: () => answer.busy,
    threadOpen: () => Boolean(navigation.threadId),
  },
);
const answer = new Streaming(client, {
  stopDetaches: STOP_DETACHES,
  stopRoute: OWN_ROUTES,
  onEvent: handleEvent,
  onChange: (view) => {
    document.body.dataset.streaming = String(view.streaming);
    document.body.dataset.rejoined = String(view.rejoined);
    composer.showStreaming(view);
  },
  onEnd: streamEnded,
  onLost: rejoinLost,
  onError: (error) => showError(error),
  isShowing: (threadId) => navigation.threadId === threadId,
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
    modelPicker: $("#model-picker"),
    toolPicker: $("#tool-picker"),
  },
  {
    placeholder: SETTINGS.placeholder,
    attachments: SETTINGS.attachments,
    models: SETTINGS.models,
    tools: SETTINGS.tools,
    busy: () => answer.busy,
    onSend: (draft) => sendDraft(draft),
    onStop: () => answer.stopClicked(),
    upload: (file) => client.upload(file),
    onRemoveUploaded: (attachment) =>
      client.call("attachments.delete", { attachment_id: attachment.id }).catch((error) => showError(error)),
    onError: (error) => showError(error),
  },
);
const threadList = new ThreadList($("#thread-list"), {
  onChoose: (threadId) => navigation.choose(threadId),
  onDelete: (threadId) => navigation.deleteWithUndo(threadId),
  onRename: (threadId, title) => navigation.rename(threadId, title).catch((error) => showError(error)),
  showDelete: SETTINGS.history.showDelete,
  showRename: SETTINGS.history.showRename,
});
const navigation = new Navigation(
  { client, answer, conversation, threadList },
  { title: $("#thread-title"), moreThreads: ui.moreThreads, exportMenu: $("#export-menu") },
  {
    closeMenu: () => setMenu(false),
    hideBanner: () => banner.hide(),
    focusComposer: () => composer.focus(),
    showError,
  },
  { threadPage: THREAD_PAGE, itemPage: ITEM_PAGE, stopRoute: OWN_ROUTES, titleText: SETTINGS.header.titleText },
);

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
  const shown = threadId ?? navigation.threadId;
  if (detached && shown && navigation.threadId === shown) showDetached(shown);
}

function showDetached(threadId) {
  banner.show("info", "Stopped following this answer; it goes on on the server.", {
    actions: [["Follow again", () => navigation.select(threadId, "keep")]],
  });
}

async function rejoinLost(threadId) {
  await navigation.select(threadId, "keep", { rejoin: false });
  // A thread that did not load says why itself.
  if (navigation.thread?.id !== threadId) return;
  banner.show("warning", "This answer can no longer be followed; the thread shows what the server saved of it.", {
    actions: [["Follow again", () => navigation.select(threadId, "keep")]],
  });
}

function handleEvent(event) {
  inspect("←", event);
  showEvent(event, { answer, navigation, conversation, banner, showError, retryActions: retryLastAction });
}

async function runPendingClientTool() {
  const call = conversation.lastShown();
  if (!isPendingToolCall(call)) return;
  const result = toolResult(call);
  // The server records the output without an event for it, so the page updates its own copy.
  call.status = "completed";
  call.output = result;
  conversation.render(call);
  await stream("threads.add_client_tool_output", { thread_id: navigation.threadId, result });
}

// -- what the person does -------------------------------------------------------------------

// Sends what the composer held; a message the server did not take goes back into the composer.
async function sendDraft(draft) {
  try {
    await sendMessage(messageContent(draft.text), draft.ids, draft.inferenceOptions);
  } catch (error) {
    const lost = error instanceof RequestFailed && error.code === "stream_lost";
    // A message the server never took goes back to the composer; one it took is in the thread.
    if (!lost) composer.restoreDraft(draft);
    showError(error, lost ? retryLastAction() : []);
  }
}

async function sendMessage(content, attachmentIds = [], inference = {}) {
  banner.hide();
  const input = userInput(content, attachmentIds, inference);
  conversation.pin();
  if (navigation.threadId) await stream("threads.add_user_message", { thread_id: navigation.threadId, input });
  else await stream("threads.create", { input });
}

async function sendFeedback(item, kind) {
  await client.call("items.feedback", { thread_id: navigation.threadId, item_ids: [item.id], kind });
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
  await stream("threads.retry_after_item", { thread_id: navigation.threadId, item_id: userMessage.id });
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
      thread_id: navigation.threadId,
      item_id: item.id,
      action: { type: action.type, payload: action.payload ?? null },
    });
  } finally {
    if (el) el.classList.remove("busy");
  }
}

// -- errors, menu and settings --------------------------------------------------------------

function showError(error, actions = []) {
  if (!(error instanceof RequestFailed)) console.error(error);
  const message = error instanceof RequestFailed ? error.message : `Something went wrong in the page: ${error.message ?? error}`;
  // A refusal for want of sign-in is fixed in Settings, where the page's headers are.
  const signIn = error instanceof RequestFailed && (error.status === 401 || error.status === 403);
  const all = signIn ? [...actions, ["Open Settings", () => settings.open()]] : actions;
  banner.show("error", message, { requestId: error.requestId ?? null, actions: all });
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
  await navigation.loadThreads(true);
  if (navigation.threadId) await navigation.select(navigation.threadId, "keep");
}

// -- wiring ---------------------------------------------------------------------------------

ui.newThread.addEventListener("click", () => navigation.newThread("push"));
$("#header-new-thread").addEventListener("click", () => navigation.newThread("push"));
$("#thread-search").addEventListener("input", (event) => threadList.filter(event.target.value));
for (const button of document.querySelectorAll("#export-menu [data-export]")) {
  button.addEventListener("click", () => {
    $("#export-menu").open = false;
    exportThread(button.dataset.export);
  });
}
ui.moreThreads.addEventListener("click", () => navigation.loadThreads(false).catch((error) => showError(error)));
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
window.addEventListener("pagehide", () => navigation.leavingPage());
window.addEventListener("hashchange", () => navigation.followAddress().catch((error) => showError(error)));

function showDisclaimer() {
  if (!SETTINGS.disclaimer?.text) return;
  ui.disclaimer.innerHTML = renderMarkdown(SETTINGS.disclaimer.text);
  ui.disclaimer.classList.toggle("high-contrast", Boolean(SETTINGS.disclaimer.highContrast));
  ui.disclaimer.hidden = false;
}

// Shows only what the server supports: no attach button without an attachment store, and an
// upload strategy it offers.
function applyCapabilities(capabilities) {
  if (!capabilities) return;
  const uploads = capabilities.attachments?.upload ?? [];
  composer.enableAttachments(SETTINGS.attachments && uploads.length > 0);
  if (client.directUpload && !uploads.includes("direct")) client.directUpload = false;
  else if (!client.directUpload && !uploads.includes("two_phase")) client.directUpload = uploads.includes("direct");
}

// The `header` and `history` options of the web component.
function applyLayoutOptions() {
  document.body.classList.toggle("no-header", !SETTINGS.header.enabled);
  document.body.classList.toggle("no-history", !SETTINGS.history.enabled);
  $("#thread-title").style.visibility = SETTINGS.header.title ? "" : "hidden";
}

// Downloads the open thread as Markdown or JSON, named after its title.
function exportThread(format) {
  const thread = navigation.thread;
  if (!thread) return;
  const items = [...conversation.items.values()];
  const name = (thread.title || thread.id).replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "") || "thread";
  if (format === "json") download(`${name}.json`, threadJson(thread, items), "application/json");
  else download(`${name}.md`, threadMarkdown(thread, items), "text/markdown");
}

async function start() {
  applyLayoutOptions();
  if (OWN_ROUTES) applyCapabilities(await client.capabilities());
  applyColorScheme();
  applyDeveloperMode();
  showDisclaimer();
  conversation.buildStart(SETTINGS.greeting, SETTINGS.prompts, (prompt) => {
    if (answer.busy) return;
    sendMessage(messageContent(prompt.prompt)).catch((error) => showError(error));
  });
  answer.redraw();
  navigation.renderTitle();
  conversation.showStart();
  composer.fit();
  const fromHash = threadIdFromHash(location.hash);
  if (fromHash) await Promise.all([navigation.loadThreads(true), navigation.select(fromHash, "keep")]);
  else await navigation.loadThreads(true);
}

start()
  .catch((error) => showError(error, [["Retry", () => reloadEverything()]]))
  .finally(() => {
    document.body.dataset.ready = "true";
  });
