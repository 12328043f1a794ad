// The conversation view's rules that need no browser: which items show, how they are classed,
// which message a retry answers again, and how a stream's end settles its items.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  isShown,
  itemClass,
  previousUserMessage,
  progressText,
  settle,
} from "../../src/chatkit/playground/static/conversation.js";

test("bookkeeping items are never drawn", () => {
  for (const type of ["hidden_context_item", "sdk_hidden_context", "end_of_turn"]) assert.equal(isShown({ type }), false);
  assert.equal(isShown({ type: "assistant_message" }), true);
});

test("an item's class names its type and whether it was stopped", () => {
  assert.equal(itemClass({ type: "user_message" }), "item item-user_message");
  assert.equal(itemClass({ type: "assistant_message", stopped: true }), "item item-assistant_message stopped");
});

test("a retry answers again the last user message before the item", () => {
  const items = [
    { id: "u1", type: "user_message" },
    { id: "a1", type: "assistant_message" },
    { id: "u2", type: "user_message" },
    { id: "w", type: "widget" },
    { id: "a2", type: "assistant_message" },
  ];
  assert.equal(previousUserMessage(items, "a1").id, "u1");
  assert.equal(previousUserMessage(items, "a2").id, "u2");
  assert.equal(previousUserMessage(items, "u1"), null);
  // An item no longer there: the last user message of all.
  assert.equal(previousUserMessage(items, "gone").id, "u2");
});

test("settle ends streaming items and marks a stopped answer", () => {
  const items = [
    { id: "u", type: "user_message", streaming: false },
    { id: "w", type: "workflow", streaming: true },
    { id: "a", type: "assistant_message", streaming: true },
  ];
  const { changed, needsNote } = settle(items, true);
  assert.deepEqual(
    changed.map((item) => item.id),
    ["w", "a"],
  );
  assert.equal(needsNote, false);
  assert.deepEqual(
    items.map((item) => [item.streaming, item.stopped ?? false]),
    [
      [false, false],
      [false, false],
      [false, true],
    ],
  );
});

test("a stop that marked no answer asks for a note; an answer that ran out marks nothing", () => {
  assert.equal(settle([{ id: "w", type: "workflow", streaming: true }], true).needsNote, true);
  const items = [{ id: "a", type: "assistant_message", streaming: true }];
  assert.deepEqual(settle(items, false), { changed: [items[0]], needsNote: false });
  assert.equal(items[0].stopped, undefined);
});

test("progress shows its icon before its words", () => {
  assert.equal(progressText({ text: "Searching" }), "Searching");
  assert.equal(progressText({ icon: "lightbulb", text: "Thinking" }), "☀ Thinking");
});
