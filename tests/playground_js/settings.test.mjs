// Header lines typed in the settings panel: valid ones become request headers, others are reported.
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseHeaders } from "../../src/chatkit/playground/static/settings.js";

test("parseHeaders keeps valid lines and reports the rest", () => {
  const { headers, invalid } = parseHeaders("Authorization: Bearer a:b\n\n  X-Team : blue \nno colon\nBad Name: v\n: empty");
  assert.deepEqual(headers, { Authorization: "Bearer a:b", "X-Team": "blue" });
  assert.deepEqual(invalid, ["no colon", "Bad Name: v", ": empty"]);
});

test("parseHeaders accepts nothing at all", () => {
  assert.deepEqual(parseHeaders(null), { headers: {}, invalid: [] });
});
