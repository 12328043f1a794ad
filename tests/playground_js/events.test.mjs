// What each stream event does to the page's parts, with parts that record what they are asked.
import assert from "node:assert/strict";
import { test } from "node:test";

import { noticeBanner, showEvent, streamFailure } from "../../src/chatkit/playground/static/events.js";
import { RequestFailed } from "../../src/chatkit/playground/static/protocol.js";

// Parts whose every method call is recorded as [part.method, ...arguments].
function recordingParts() {
  const calls = [];
  const part = (name, extra = {}) =>
    new Proxy(extra, {
      get: (target, method) => (method in target ? target[method] : (...args) => calls.push([`${name}.${method}`, ...args])),
    });
  const parts = {
    answer: part("answer", { requestId: "req_9" }),
    navigation: part("navigation"),
    conversation: part("conversation"),
    banner: part("banner"),
    showError: (...args) => calls.push(["showError", ...args]),
    retryActions: () => [["Retry", "handler"]],
  };
  return { parts, calls };
}

function show(event) {
  const { parts, calls } = recordingParts();
  showEvent(event, parts);
  return calls;
}

test("stream options say whether stopping may cancel", () => {
  assert.deepEqual(show({ type: "stream_options", stream_options: { allow_cancel: false } }), [["answer.setAllowCancel", false]]);
  assert.deepEqual(show({ type: "stream_options" }), [["answer.setAllowCancel", true]]);
});

test("thread events go to navigation", () => {
  const thread = { id: "thr_1", title: "Hi" };
  assert.deepEqual(show({ type: "thread.created", thread }), [["navigation.created", thread]]);
  assert.deepEqual(show({ type: "thread.updated", thread }), [["navigation.updated", thread]]);
});

test("item output replaces the progress line, except a workflow's", () => {
  const message = { id: "m", type: "assistant_message" };
  const workflow = { id: "w", type: "workflow" };
  assert.deepEqual(show({ type: "thread.item.added", item: message }), [
    ["conversation.showProgress", null],
    ["conversation.put", message, true],
  ]);
  assert.deepEqual(show({ type: "thread.item.added", item: workflow }), [["conversation.put", workflow, true]]);
  assert.deepEqual(show({ type: "thread.item.done", item: message }), [
    ["conversation.showProgress", null],
    ["conversation.put", message],
  ]);
  assert.deepEqual(show({ type: "thread.item.replaced", item: workflow }), [["conversation.put", workflow]]);
});

test("item updates, removals and progress go to the conversation", () => {
  const update = { type: "assistant_message.content_part.text_delta", content_index: 0, delta: "a" };
  assert.deepEqual(show({ type: "thread.item.updated", item_id: "m", update }), [["conversation.update", "m", update]]);
  assert.deepEqual(show({ type: "thread.item.removed", item_id: "m" }), [["conversation.remove", "m"]]);
  const progress = { type: "progress_update", text: "Searching" };
  assert.deepEqual(show(progress), [["conversation.showProgress", progress]]);
});

test("an error event is shown with the stream's request id, and a retry when the server allows one", () => {
  const [[name, failure, actions]] = show({ type: "error", code: "custom", message: "Boom", allow_retry: true });
  assert.equal(name, "showError");
  assert.ok(failure instanceof RequestFailed);
  assert.deepEqual([failure.message, failure.code, failure.requestId], ["Boom", "custom", "req_9"]);
  assert.deepEqual(actions, [["Retry", "handler"]]);
  assert.deepEqual(show({ type: "error", code: "stream.error", allow_retry: false })[0][2], []);
  assert.equal(streamFailure({ code: "stream.error" }, null).message, "The server could not finish the answer (stream.error).");
});

test("notices and client effects show in the banner", () => {
  assert.deepEqual(noticeBanner({ level: "danger", title: "Careful", message: "Hot" }), ["error", "Careful: Hot"]);
  assert.deepEqual(noticeBanner({ level: "info", message: "Note" }), ["info", "Note"]);
  assert.deepEqual(show({ type: "notice", level: "warning", title: "Heads up" }), [["banner.show", "warning", "Heads up"]]);
  assert.deepEqual(show({ type: "client_effect", name: "confetti", data: { n: 3 } }), [
    ["banner.show", "info", 'Client effect “confetti”: {"n":3}'],
  ]);
});

test("events the page does not know change nothing", () => {
  assert.deepEqual(show({ type: "something.new" }), []);
});
