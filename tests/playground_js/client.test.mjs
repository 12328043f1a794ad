// The playground's network client against a scripted fetch: requests, failures, the rejoin route, uploads.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, rejoinUrl } from "../../src/chatkit/playground/static/client.js";
import { RequestFailed } from "../../src/chatkit/playground/static/protocol.js";

// A client whose fetch answers from `answers` in turn; it records the requests and the log.
function scripted(answers, options = {}) {
  const requests = [];
  const log = [];
  const client = new Client("/chatkit", {
    headers: () => ({ "X-User-Id": "ada" }),
    inspect: (direction, payload) => log.push([direction, payload]),
    page: "http://localhost:8000/",
    fetch: async (url, init) => {
      requests.push({ url, init });
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next;
    },
    ...options,
  });
  return { client, requests, log };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

test("rejoinUrl escapes the thread id and replays from the first frame", () => {
  assert.equal(rejoinUrl("/chatkit", "thr/1 a"), "/chatkit/threads/thr%2F1%20a/stream?after=0");
});

test("call posts the request with the person's headers and logs both ways", async () => {
  const { client, requests, log } = scripted([json({ data: [] })]);
  assert.deepEqual(await client.call("threads.list", { limit: 2 }), { data: [] });
  assert.equal(requests[0].url, "/chatkit");
  assert.equal(requests[0].init.headers["X-User-Id"], "ada");
  assert.equal(requests[0].init.headers.Accept, "application/json");
  assert.deepEqual(JSON.parse(requests[0].init.body), { type: "threads.list", params: { limit: 2 } });
  assert.deepEqual(log, [
    ["→", { type: "threads.list", params: { limit: 2 } }],
    ["←", { data: [] }],
  ]);
});

test("call turns a refusal into a RequestFailed with the server's words", async () => {
  const { client } = scripted([json({ error: { code: "not_found", message: "No such thread" } }, 404)]);
  await assert.rejects(client.call("threads.get_by_id", { thread_id: "t" }), (error) => {
    assert.ok(error instanceof RequestFailed);
    assert.equal(error.message, "No such thread");
    assert.equal(error.status, 404);
    return true;
  });
});

test("a server that does not answer is named; an abort stays an abort", async () => {
  const { client } = scripted([new TypeError("Failed to fetch"), new DOMException("stopped", "AbortError")]);
  await assert.rejects(client.call("threads.list", {}), {
    message: "Cannot reach the server at http://localhost:8000/chatkit: is it running?",
    code: "network",
  });
  await assert.rejects(client.call("threads.list", {}), { name: "AbortError" });
});

test("stream asks for an event stream with the signal and hands back the unread response", async () => {
  const accepted = new Response('data: {"type":"x"}\n\n', { headers: { "x-request-id": "req_7" } });
  const { client, requests } = scripted([accepted, json({ error: { message: "Too big" } }, 413)]);
  const controller = new AbortController();
  const response = await client.stream("threads.create", { input: {} }, controller.signal);
  assert.equal(response, accepted);
  assert.equal(response.bodyUsed, false);
  assert.equal(requests[0].init.headers.Accept, "text/event-stream");
  assert.equal(requests[0].init.signal, controller.signal);
  await assert.rejects(client.stream("threads.create", { input: {} }), { message: "Too big", status: 413 });
});

test("rejoin gives the running answer, and null when none runs, it is refused or aborted", async () => {
  const running = new Response("data: {}\n\n", { status: 200 });
  const { client, requests, log } = scripted([
    running,
    new Response(null, { status: 204 }),
    json({ error: { message: "gone" } }, 404),
    new DOMException("left", "AbortError"),
  ]);
  assert.equal(await client.rejoin("thr_1", undefined), running);
  assert.equal(requests[0].url, "/chatkit/threads/thr_1/stream?after=0");
  assert.deepEqual(requests[0].init.headers, { "X-User-Id": "ada", Accept: "text/event-stream" });
  assert.equal(await client.rejoin("thr_1"), null);
  assert.equal(await client.rejoin("thr_1"), null);
  assert.equal(await client.rejoin("thr_1"), null);
  assert.deepEqual(
    log.filter(([direction]) => direction === "←"),
    [
      ["←", { status: 204 }],
      ["←", { status: 404 }],
    ],
  );
});

test("a two-phase upload creates the attachment, then sends the file where the server said", async () => {
  const created = { id: "atc_1", name: "a.txt", upload_descriptor: { url: "/up/atc_1", method: "PUT", headers: { "X-Up": "1" } } };
  const { client, requests, log } = scripted([json(created), new Response("")]);
  const file = new File(["hello"], "a.txt", { type: "text/plain" });
  const attachment = await client.upload(file);
  assert.deepEqual(attachment, { ...created, upload_descriptor: null });
  assert.deepEqual(JSON.parse(requests[0].init.body).params, { name: "a.txt", size: 5, mime_type: "text/plain" });
  assert.deepEqual([requests[1].url, requests[1].init.method, requests[1].init.body], ["/up/atc_1", "PUT", file]);
  assert.deepEqual(requests[1].init.headers, { "X-Up": "1" });
  assert.deepEqual(log.at(-1), ["•", { uploaded: attachment }]);
});

test("a two-phase upload takes the upload's answer when it is the same attachment", async () => {
  const created = { id: "atc_2", upload_descriptor: { url: "/up", method: "POST" } };
  const uploaded = { id: "atc_2", preview_url: "/p" };
  const { client } = scripted([json(created), json(uploaded)]);
  assert.deepEqual(await client.upload(new File(["x"], "b.bin")), uploaded);
});

test("a two-phase upload the server refuses fails with its words", async () => {
  const created = { id: "atc_3", upload_descriptor: { url: "/up", method: "POST" } };
  const { client } = scripted([json(created), json({ error: { message: "Not allowed" } }, 403)]);
  await assert.rejects(client.upload(new File(["x"], "c.bin")), { message: "Not allowed", status: 403 });
});

test("a direct upload posts the file as a form to <endpoint>/upload", async () => {
  const { client, requests } = scripted([json({ id: "atc_4" })], { directUpload: true });
  assert.deepEqual(await client.upload(new File(["x"], "d.txt")), { id: "atc_4" });
  assert.equal(requests[0].url, "/chatkit/upload");
  assert.equal(requests[0].init.method, "POST");
  assert.deepEqual(requests[0].init.headers, { "X-User-Id": "ada" });
  assert.equal(requests[0].init.body.get("file").name, "d.txt");
});

test("stopTurn posts to the thread's stop route with the person's headers", async () => {
  const { client, requests } = scripted([json({ stopped: true }), json({ stopped: false }), json({}, 404)]);
  assert.equal(await client.stopTurn("thr/1"), true);
  assert.equal(requests[0].url, "/chatkit/threads/thr%2F1/stop");
  assert.equal(requests[0].init.method, "POST");
  assert.equal(requests[0].init.headers["X-User-Id"], "ada");
  assert.equal(await client.stopTurn("thr_2"), false);
  assert.equal(await client.stopTurn("thr_3"), false);
});

test("the package's own GET routes are niceties: their JSON, or nothing on a failure", async () => {
  const { client, requests } = scripted([
    json({ attachments: null }),
    json({}, 404),
    new TypeError("Failed to fetch"),
    json({ items: ["msg_1"] }),
    json({ items: "nonsense" }),
  ]);
  assert.deepEqual(await client.capabilities(), { attachments: null });
  assert.equal(requests[0].url, "/chatkit/capabilities");
  assert.equal(await client.capabilities(), null);
  assert.equal(await client.capabilities(), null);
  assert.deepEqual(await client.stoppedItems("thr/1"), ["msg_1"]);
  assert.equal(requests[3].url, "/chatkit/threads/thr%2F1/stopped");
  assert.deepEqual(await client.stoppedItems("thr_2"), []);
});
