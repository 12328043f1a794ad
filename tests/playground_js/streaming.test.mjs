// The answer on screen: running a request's stream, stopping it, and rejoining a running answer.
import assert from "node:assert/strict";
import { test } from "node:test";

import { RequestFailed } from "../../src/chatkit/playground/static/protocol.js";
import { Streaming, rejoinedFrame, stopButtonState } from "../../src/chatkit/playground/static/streaming.js";

const frames = (...events) => events.map(([event, id]) => `${id ? `id: ${id}\n` : ""}data: ${JSON.stringify(event)}\n\n`).join("");

// A body that sends `text`, then stays open until the request is aborted.
function hanging(text, signal) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      signal.addEventListener("abort", () => controller.error(new DOMException("aborted", "AbortError")));
    },
  });
}

// A Streaming over a fake client, recording what it tells the page.
function harness({
  stream,
  rejoin,
  stopDetaches = false,
  stopRoute = false,
  isShowing = (threadId) => threadId === "thr_1",
} = {}) {
  const seen = { events: [], views: [], ends: [], lost: [], errors: [], log: [], discarded: [], stops: [] };
  const client = {
    stream: stream ?? (async () => new Response(frames([{ type: "a" }]), { headers: { "x-request-id": "req_1" } })),
    rejoin: rejoin ?? (async () => null),
    discard: async (response) => seen.discarded.push(response.status),
    stopTurn: async (threadId) => seen.stops.push(threadId) > 0,
  };
  const answer = new Streaming(client, {
    stopDetaches,
    stopRoute,
    onEvent: (event) => seen.events.push(event),
    onChange: (view) => seen.views.push(view),
    onEnd: (end) => seen.ends.push(end),
    onLost: (threadId) => seen.lost.push(threadId),
    onError: (error) => seen.errors.push(error),
    isShowing,
    inspect: (direction, payload) => seen.log.push([direction, payload]),
  });
  return { answer, seen };
}

test("rejoinedFrame: the closing error without an id is lost, thread and stop frames are skipped", () => {
  assert.equal(rejoinedFrame({ type: "error" }, null), "lost");
  assert.equal(rejoinedFrame({ type: "error" }, "4"), "show");
  assert.equal(rejoinedFrame({ type: "thread.created" }, "1"), "skip");
  assert.equal(rejoinedFrame({ type: "stream_options" }, "2"), "skip");
  assert.equal(rejoinedFrame({ type: "thread.item.added" }, "3"), "show");
});

test("stopButtonState: stopping may be refused, unless it only detaches", () => {
  const base = { streaming: true, rejoined: false, stopDetaches: false, allowCancel: true };
  assert.deepEqual(stopButtonState(base), { streaming: true, rejoined: false, stopDisabled: false, stopTitle: "Stop" });
  assert.equal(stopButtonState({ ...base, allowCancel: false }).stopDisabled, true);
  const rejoined = stopButtonState({ ...base, rejoined: true, allowCancel: false });
  assert.equal(rejoined.stopDisabled, false);
  assert.equal(rejoined.stopTitle, "Stop following (the answer goes on on the server)");
  assert.equal(stopButtonState({ ...base, stopDetaches: true }).stopTitle, rejoined.stopTitle);
  assert.equal(stopButtonState({ ...base, streaming: false }).stopDisabled, true);
});

test("run shows each event, keeps the request id and ends unstopped", async () => {
  const { answer, seen } = harness();
  assert.equal(await answer.run("threads.create", { input: {} }), true);
  assert.deepEqual(seen.events, [{ type: "a" }]);
  assert.equal(answer.requestId, "req_1");
  assert.deepEqual(seen.ends, [{ stopped: false, detached: false, threadId: null }]);
  assert.deepEqual(
    seen.views.map((view) => view.streaming),
    [true, false],
  );
  assert.equal(answer.busy, false);
});

test("run refuses a second answer while one streams", async () => {
  const { answer } = harness({ stream: async (type, params, signal) => new Response(hanging("", signal)) });
  const first = answer.run("threads.create", {});
  await assert.rejects(answer.run("threads.create", {}), RequestFailed);
  await answer.stop();
  assert.equal(await first, false);
});

test("stop aborts the request, waits for its end and marks it stopped", async () => {
  const { answer, seen } = harness({
    stream: async (type, params, signal) => new Response(hanging(frames([{ type: "a" }]), signal)),
  });
  const running = answer.run("threads.create", {});
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(answer.busy, true);
  await answer.stop();
  assert.equal(answer.busy, false);
  assert.equal(await running, false);
  assert.deepEqual(seen.ends, [{ stopped: true, detached: false, threadId: null }]);
  assert.deepEqual(seen.log.at(-1), ["•", { stopped: true }]);
});

test("under the finish policy the stop button only detaches", async () => {
  const { answer, seen } = harness({
    stopDetaches: true,
    stream: async (type, params, signal) => new Response(hanging("", signal)),
  });
  const running = answer.run("threads.create", {});
  await new Promise((resolve) => setTimeout(resolve, 10));
  answer.stopClicked();
  assert.equal(await running, false);
  assert.deepEqual(seen.ends, [{ stopped: false, detached: true, threadId: null }]);
  assert.deepEqual(seen.log.at(-1), ["•", { detached: true }]);
});

test("a refused request is thrown and leaves nothing streaming", async () => {
  const { answer, seen } = harness({
    stream: async () => {
      throw new RequestFailed("No");
    },
  });
  await assert.rejects(answer.run("threads.create", {}), { message: "No" });
  assert.equal(answer.busy, false);
  assert.deepEqual(seen.ends, [{ stopped: false, detached: false, threadId: null }]);
});

test("resume follows a running answer, skipping what the open thread has, until it is lost", async () => {
  const body = frames(
    [{ type: "thread.created" }, "1"],
    [{ type: "stream_options" }, "2"],
    [{ type: "thread.item.added", item: { id: "m" } }, "3"],
    [{ type: "error" }, null],
  );
  const { answer, seen } = harness({ rejoin: async () => new Response(body, { headers: { "x-request-id": "req_r" } }) });
  await answer.resume("thr_1");
  await answer.done;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(seen.events, [{ type: "thread.item.added", item: { id: "m" } }]);
  assert.equal(answer.requestId, "req_r");
  assert.equal(seen.views[0].rejoined, true);
  assert.deepEqual(seen.ends, [{ stopped: false, detached: false, threadId: "thr_1" }]);
  assert.deepEqual(seen.lost, ["thr_1"]);
});

test("resume asks nothing for a thread no longer shown, and lets go of an answer that came too late", async () => {
  let asked = 0;
  const late = harness({
    isShowing: (threadId) => threadId === "thr_2",
    rejoin: async () => {
      asked += 1;
      return new Response("", { status: 200 });
    },
  });
  await late.answer.resume("thr_1");
  assert.equal(asked, 0);
  let showing = true;
  const { answer, seen } = harness({
    isShowing: () => showing,
    rejoin: async () => {
      showing = false;
      return new Response("", { status: 200 });
    },
  });
  await answer.resume("thr_1");
  assert.deepEqual(seen.discarded, [200]);
  assert.equal(answer.busy, false);
});

test("stopping a rejoined answer only detaches it", async () => {
  const { answer, seen } = harness({ rejoin: async (threadId, signal) => new Response(hanging("", signal)) });
  await answer.resume("thr_1");
  assert.equal(answer.rejoined, true);
  answer.stopClicked();
  await answer.done;
  assert.deepEqual(seen.ends, [{ stopped: false, detached: true, threadId: "thr_1" }]);
  assert.deepEqual(seen.lost, []);
});

test("with the stop route, stop stops the answer on the server, even a rejoined one under finish", async () => {
  const { answer, seen } = harness({
    stopDetaches: true,
    stopRoute: true,
    stream: async (type, params, signal) =>
      new Response(hanging(frames([{ type: "thread.created", thread: { id: "thr_9" } }]), signal)),
  });
  assert.equal(stopButtonState({ streaming: true, rejoined: true, stopDetaches: true, allowCancel: true, stopRoute: true }).stopTitle, "Stop");
  const running = answer.run("threads.create", {});
  await new Promise((resolve) => setTimeout(resolve, 10));
  answer.stopClicked();
  assert.equal(await running, false);
  assert.deepEqual(seen.stops, ["thr_9"]);
  assert.deepEqual(seen.ends, [{ stopped: true, detached: false, threadId: null }]);
  assert.deepEqual(seen.log.at(-1), ["•", { stopped: true }]);

  const rejoined = harness({ stopRoute: true, rejoin: async (threadId, signal) => new Response(hanging("", signal)) });
  await rejoined.answer.resume("thr_1");
  rejoined.answer.stopClicked();
  await rejoined.answer.done;
  assert.deepEqual(rejoined.seen.stops, ["thr_1"]);
  assert.deepEqual(rejoined.seen.ends, [{ stopped: true, detached: false, threadId: "thr_1" }]);
});

test("a message to an open thread is stopped by its thread id before any event came", async () => {
  const { answer, seen } = harness({
    stopRoute: true,
    stream: async (type, params, signal) => new Response(hanging("", signal)),
  });
  const running = answer.run("threads.add_user_message", { thread_id: "thr_4", input: {} });
  await new Promise((resolve) => setTimeout(resolve, 10));
  answer.stopClicked();
  await running;
  assert.deepEqual(seen.stops, ["thr_4"]);
});
