// The page's small pure parts: its options, its address and its client tools.
import assert from "node:assert/strict";
import { test } from "node:test";

import { threadAddress, threadIdFromHash } from "../../src/chatkit/playground/static/address.js";
import { pageSettings, parseOptions } from "../../src/chatkit/playground/static/options.js";
import { isPendingToolCall, toolResult } from "../../src/chatkit/playground/static/tools.js";

test("parseOptions reads the script's JSON; broken or empty JSON is no options", () => {
  assert.deepEqual(parseOptions('{"theme":"dark"}'), { theme: "dark" });
  assert.deepEqual(parseOptions("{broken"), {});
  assert.deepEqual(parseOptions(""), {});
  assert.deepEqual(parseOptions(undefined), {});
  assert.deepEqual(parseOptions("null"), {});
});

test("pageSettings shows everything by default", () => {
  assert.deepEqual(pageSettings({}), {
    greeting: "What can I help with today?",
    prompts: [],
    placeholder: "Message the AI",
    attachments: true,
    models: [],
    tools: [],
    itemActions: { feedback: true, retry: true },
    autoScroll: true,
    disclaimer: null,
    colorScheme: null,
    header: { enabled: true, title: true, titleText: null },
    history: { enabled: true, showDelete: true, showRename: true },
  });
});

test("pageSettings reads the header and history options", () => {
  const settings = pageSettings({
    header: { enabled: false, title: { text: "Support" } },
    history: { showDelete: false, showRename: false },
  });
  assert.deepEqual(settings.header, { enabled: false, title: true, titleText: "Support" });
  assert.deepEqual(settings.history, { enabled: true, showDelete: false, showRename: false });
});

test("pageSettings follows the component's option names", () => {
  const settings = pageSettings({
    theme: { colorScheme: "dark" },
    startScreen: { greeting: "Hi", prompts: [{ label: "Go", prompt: "go" }] },
    composer: { placeholder: "Ask", attachments: { enabled: false } },
    threadItemActions: { feedback: false },
    thread: { autoScroll: false },
    disclaimer: { text: "Be kind" },
  });
  assert.equal(settings.colorScheme, "dark");
  assert.equal(settings.greeting, "Hi");
  assert.deepEqual(settings.prompts, [{ label: "Go", prompt: "go" }]);
  assert.equal(settings.placeholder, "Ask");
  assert.equal(settings.attachments, false);
  assert.deepEqual(settings.itemActions, { feedback: false, retry: true });
  assert.equal(settings.autoScroll, false);
  assert.deepEqual(settings.disclaimer, { text: "Be kind" });
  assert.equal(pageSettings({ theme: "light" }).colorScheme, "light");
});

test("the address's hash names the open thread, escaped both ways", () => {
  const where = { pathname: "/", search: "?endpoint=/x" };
  assert.equal(threadAddress(where, "thr 1#a"), "/?endpoint=/x#thr%201%23a");
  assert.equal(threadAddress(where, null), "/?endpoint=/x");
  assert.equal(threadIdFromHash("#thr%201%23a"), "thr 1#a");
  assert.equal(threadIdFromHash(""), "");
});

test("a pending client tool call gets its tool's result, or an error naming the missing tool", () => {
  assert.equal(isPendingToolCall({ type: "client_tool_call", status: "pending" }), true);
  assert.equal(isPendingToolCall({ type: "client_tool_call", status: "completed" }), false);
  assert.equal(isPendingToolCall({ type: "assistant_message" }), false);
  assert.equal(isPendingToolCall(null), false);
  const tools = { echo: (args) => ({ echoed: args }) };
  assert.deepEqual(toolResult({ name: "echo", arguments: { a: 1 } }, tools), { echoed: { a: 1 } });
  assert.deepEqual(toolResult({ name: "echo" }, tools), { echoed: {} });
  assert.deepEqual(toolResult({ name: "nope" }, tools), { error: "the playground has no client tool named nope" });
  // A name every object inherits is still no tool of the page's.
  assert.deepEqual(toolResult({ name: "toString" }, tools), {
    error: "the playground has no client tool named toString",
  });
});
