// Exporting a thread: Markdown to read, JSON as the server sent it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { threadJson, threadMarkdown } from "../../src/chatkit/playground/static/export.js";

const thread = { id: "thr_1", title: "Trip", created_at: "2026-12-05T10:00:00Z", items: { data: [] } };
const items = [
  { id: "m1", type: "user_message", content: [{ type: "input_text", text: "Where to?" }], attachments: [{ name: "map.png" }] },
  { id: "h1", type: "hidden_context_item", content: "secret" },
  { id: "a1", type: "assistant_message", content: [{ text: "Lisbon." }], streaming: false, stopped: true },
  { id: "stopped_1", type: "stopped_note" },
];

test("threadMarkdown writes the messages the person saw, and marks a stopped answer", () => {
  assert.equal(
    threadMarkdown(thread, items),
    "# Trip\n\n**You:** Where to?\n\n*Attached: map.png*\n\n**Assistant:**\n\nLisbon.\n\n*(stopped)*\n",
  );
});

test("threadJson keeps the server's items without the page's own bookkeeping", () => {
  const exported = JSON.parse(threadJson(thread, items));
  assert.deepEqual(exported.thread, { id: "thr_1", title: "Trip", created_at: "2026-12-05T10:00:00Z" });
  assert.deepEqual(
    exported.items.map((item) => item.id),
    ["m1", "h1", "a1"],
  );
  assert.equal("stopped" in exported.items[2], false);
});
