// The raw event log must show payloads as text, never as markup.
import assert from "node:assert/strict";
import { test } from "node:test";

import { inspectorLineHtml } from "../../src/chatkit/playground/static/inspector.js";

test("inspectorLineHtml escapes the payload's JSON", () => {
  assert.equal(
    inspectorLineHtml("←", { text: "<b>&</b>" }),
    '<span class="dir">←</span> {&quot;text&quot;:&quot;&lt;b&gt;&amp;&lt;/b&gt;&quot;}',
  );
});
