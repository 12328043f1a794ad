// The playground's wire side: event-stream parsing, request building, failures and item updates.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  RequestFailed,
  applyUpdate,
  describeFailure,
  readEvents,
  requestInit,
} from "../../src/chatkit/playground/static/protocol.js";

// A body delivering `chunks` as separate reads, the way a network splits a stream.
function bodyOf(chunks) {
  return new Blob(chunks).stream();
}

function chunked(text, size) {
  const encoded = new TextEncoder().encode(text);
  const parts = [];
  for (let i = 0; i < encoded.length; i += size) parts.push(encoded.slice(i, i + size));
  return new ReadableStream({
    pull(controller) {
      const next = parts.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

async function collect(body) {
  const events = [];
  await readEvents(body, (event, id) => events.push([event, id]));
  return events;
}

test("readEvents yields each data frame with its id", async () => {
  const text = 'data: {"type":"a"}\n\nid: 7\ndata: {"type":"b"}\n\n';
  assert.deepEqual(await collect(bodyOf([text])), [
    [{ type: "a" }, null],
    [{ type: "b" }, "7"],
  ]);
});

test("readEvents joins frames split across reads, even inside a multi-byte character", async () => {
  const text = 'data: {"text":"héllo → wörld"}\n\ndata: {"n":2}\n\n';
  for (const size of [1, 2, 3, 5, 64]) {
    assert.deepEqual(await collect(chunked(text, size)), [
      [{ text: "héllo → wörld" }, null],
      [{ n: 2 }, null],
    ]);
  }
});

test("readEvents joins multi-line data, skips comments and leaves an unfinished frame", async () => {
  const text = ': keepalive\n\ndata: {"a":\ndata: 1}\n\ndata: {"partial":true}';
  assert.deepEqual(await collect(bodyOf([text])), [[{ a: 1 }, null]]);
});

test("requestInit builds a JSON POST whose protocol headers win over the person's", () => {
  const controller = new AbortController();
  const init = requestInit(
    "threads.list",
    { limit: 20 },
    "text/event-stream",
    { Authorization: "Bearer x", Accept: "text/html" },
    controller.signal,
  );
  assert.equal(init.method, "POST");
  assert.deepEqual(init.headers, {
    Authorization: "Bearer x",
    Accept: "text/event-stream",
    "Content-Type": "application/json",
  });
  assert.deepEqual(JSON.parse(init.body), { type: "threads.list", params: { limit: 20 } });
  assert.equal(init.signal, controller.signal);
  assert.equal("signal" in requestInit("threads.get_by_id", {}, "application/json", {}), false);
});

test("describeFailure reads the ChatKit error body", async () => {
  const response = new Response(JSON.stringify({ error: { code: "not_found", message: "No such thread", request_id: "req_1" } }), {
    status: 404,
  });
  const failure = await describeFailure(response);
  assert.ok(failure instanceof RequestFailed);
  assert.equal(failure.message, "No such thread");
  assert.equal(failure.status, 404);
  assert.equal(failure.code, "not_found");
  assert.equal(failure.requestId, "req_1");
});

test("describeFailure falls back to short text, then to words for the status", async () => {
  const plain = await describeFailure(new Response("quota exceeded", { status: 429, headers: { "x-request-id": "r9" } }));
  assert.equal(plain.message, "quota exceeded");
  assert.equal(plain.requestId, "r9");
  assert.equal(plain.code, null);
  const page = await describeFailure(new Response("<html>Bad gateway</html>", { status: 502 }));
  assert.equal(page.message, "The server could not be reached");
  const odd = await describeFailure(new Response("", { status: 418, statusText: "Teapot" }));
  assert.equal(odd.message, "The server answered 418 Teapot");
});

test("applyUpdate streams text into an assistant message", () => {
  const item = { content: [] };
  assert.ok(applyUpdate(item, { type: "assistant_message.content_part.text_delta", content_index: 0, delta: "Hel" }));
  assert.ok(applyUpdate(item, { type: "assistant_message.content_part.text_delta", content_index: 0, delta: "lo" }));
  assert.equal(item.content[0].text, "Hello");
  const annotation = { source: { type: "url", url: "https://example.com" } };
  applyUpdate(item, {
    type: "assistant_message.content_part.annotation_added",
    content_index: 0,
    annotation_index: 0,
    annotation,
  });
  assert.deepEqual(item.content[0].annotations, [annotation]);
  const done = { type: "output_text", text: "Hello!", annotations: [] };
  applyUpdate(item, { type: "assistant_message.content_part.done", content_index: 0, content: done });
  assert.equal(item.content[0], done);
});

test("applyUpdate patches widgets, tasks and images, and refuses unknown updates", () => {
  const item = {
    widget: { type: "Card", children: [{ type: "Text", id: "t", value: "a" }] },
    workflow: { tasks: [] },
  };
  applyUpdate(item, { type: "widget.streaming_text.value_delta", component_id: "t", delta: "b" });
  assert.equal(item.widget.children[0].value, "ab");
  applyUpdate(item, { type: "widget.component.updated", component_id: "t", component: { type: "Text", id: "t", value: "z" } });
  assert.equal(item.widget.children[0].value, "z");
  applyUpdate(item, { type: "workflow.task.added", task_index: 0, task: { type: "thought", content: "x" } });
  assert.equal(item.workflow.tasks[0].content, "x");
  applyUpdate(item, { type: "generated_image.updated", image: { url: "u" }, progress: 0.5 });
  assert.deepEqual([item.image, item.progress], [{ url: "u" }, 0.5]);
  assert.equal(applyUpdate(item, { type: "something.new" }), false);
});
