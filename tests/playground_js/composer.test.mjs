// The composer's rules that need no browser: how the box grows, which key sends, what a message holds.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  boxHeight,
  messageContent,
  sendsOnKey,
  uploadFailure,
  userInput,
} from "../../src/chatkit/playground/static/composer.js";
import { RequestFailed } from "../../src/chatkit/playground/static/protocol.js";

test("the message box grows with its text, then scrolls", () => {
  assert.deepEqual(boxHeight(48), { height: "48px", overflowY: "hidden" });
  assert.deepEqual(boxHeight(200), { height: "200px", overflowY: "hidden" });
  assert.deepEqual(boxHeight(640), { height: "200px", overflowY: "auto" });
});

test("Enter sends; Shift+Enter and an input method's Enter do not", () => {
  assert.equal(sendsOnKey({ key: "Enter", shiftKey: false, isComposing: false }), true);
  assert.equal(sendsOnKey({ key: "Enter", shiftKey: true, isComposing: false }), false);
  assert.equal(sendsOnKey({ key: "Enter", shiftKey: false, isComposing: true }), false);
  assert.equal(sendsOnKey({ key: "a", shiftKey: false, isComposing: false }), false);
});

test("text becomes one input_text part; a prompt's own parts stay as they are", () => {
  assert.deepEqual(messageContent("hi"), [{ type: "input_text", text: "hi" }]);
  const parts = [{ type: "input_tag", id: "t", text: "tag", data: {}, interactive: false }];
  assert.equal(messageContent(parts), parts);
});

test("a user message input carries the uploaded attachments", () => {
  assert.deepEqual(userInput([{ type: "input_text", text: "hi" }], ["atc_1"]), {
    content: [{ type: "input_text", text: "hi" }],
    attachments: ["atc_1"],
    quoted_text: null,
    inference_options: {},
  });
});

test("a refused upload names its file; a fault of the page stays as it is", () => {
  const refused = uploadFailure({ name: "a.png" }, new RequestFailed("Too big", { status: 413, requestId: "r1" }));
  assert.ok(refused instanceof RequestFailed);
  assert.equal(refused.message, "Upload of a.png failed: Too big");
  assert.deepEqual([refused.status, refused.requestId], [413, "r1"]);
  const fault = new TypeError("oops");
  assert.equal(uploadFailure({ name: "a.png" }, fault), fault);
});

test("inference options carry the chosen model and tool, and the default model is the marked one", async () => {
  const { defaultModel, inferenceOptions } = await import("../../src/chatkit/playground/static/composer.js");
  assert.deepEqual(inferenceOptions("fast", "search"), { model: "fast", tool_choice: { id: "search" } });
  assert.deepEqual(inferenceOptions(null, ""), {});
  const models = [
    { id: "old", label: "Old", disabled: true, default: true },
    { id: "fast", label: "Fast" },
    { id: "smart", label: "Smart", default: true },
  ];
  assert.equal(defaultModel(models), "smart");
  assert.equal(defaultModel(models.slice(0, 2)), "fast");
  assert.equal(defaultModel([]), null);
});
