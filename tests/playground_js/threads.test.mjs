// How the thread list names a thread.
import assert from "node:assert/strict";
import { test } from "node:test";

import { threadLabel } from "../../src/chatkit/playground/static/threads.js";

test("threadLabel prefers the title, else says when the thread was made", () => {
  assert.equal(threadLabel({ title: "Trip plans", created_at: "2026-01-02T03:04:05Z" }), "Trip plans");
  const created = "2026-01-02T03:04:05Z";
  const time = new Date(created).toLocaleString(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  assert.equal(threadLabel({ title: null, created_at: created }), `Untitled · ${time}`);
});

test("matchesSearch ignores case and accents, and an empty query matches all", async () => {
  const { matchesSearch } = await import("../../src/chatkit/playground/static/threads.js");
  assert.equal(matchesSearch("Café plans", "cafe"), true);
  assert.equal(matchesSearch("Café plans", "  PLANS "), true);
  assert.equal(matchesSearch("Café plans", "trip"), false);
  assert.equal(matchesSearch("anything", ""), true);
});
