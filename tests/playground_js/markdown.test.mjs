// The playground's markdown renderer: a pure string-to-HTML function that must never pass markup through.
import assert from "node:assert/strict";
import { test } from "node:test";

import { escapeHtml, renderInline, renderMarkdown } from "../../src/chatkit/playground/static/markdown.js";

test("escapeHtml escapes every character that could open markup", () => {
  assert.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
});

test("renderMarkdown never lets raw HTML through", () => {
  const html = renderMarkdown("<script>alert(1)</script>\n\n**<img src=x onerror=y>**");
  assert.ok(!html.includes("<script>"));
  assert.ok(!html.includes("<img"));
});

test("renderMarkdown renders paragraphs, emphasis and code fences", () => {
  const html = renderMarkdown("Hello **world**\n\n```py\nx = 1 < 2\n```");
  assert.match(html, /<strong>world<\/strong>/);
  assert.match(html, /<pre><code class="language-py">x = 1 &lt; 2<\/code><\/pre>/);
});

test("renderInline renders inline code without interpreting its content", () => {
  assert.match(renderInline("use `**a**` here"), /<code>\*\*a\*\*<\/code>/);
});
