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

test("closeOpenMarkers closes what a cut answer left open, and nothing else", async () => {
  const { closeOpenMarkers, renderMarkdown } = await import("../../src/chatkit/playground/static/markdown.js");
  const shown = (text) => renderMarkdown(closeOpenMarkers(text));
  assert.equal(shown("I am *the offline"), "<p>I am <em>the offline</em></p>");
  assert.equal(shown("I am **bold and"), "<p>I am <strong>bold and</strong></p>");
  assert.equal(shown("**done** then *open"), "<p><strong>done</strong> then <em>open</em></p>");
  assert.equal(shown("a marker just opened *"), "<p>a marker just opened</p>");
  assert.equal(shown("a marker just opened **"), "<p>a marker just opened</p>");
  assert.equal(shown("run `npm te"), "<p>run <code>npm te</code></p>");
  assert.equal(shown("`a*b` and *c"), "<p><code>a*b</code> and <em>c</em></p>");
  // Finished emphasis, bullets and arithmetic are left alone.
  assert.equal(closeOpenMarkers("*done* and **done**"), "*done* and **done**");
  assert.equal(closeOpenMarkers("* first\n* second"), "* first\n* second");
  assert.equal(closeOpenMarkers("5 * 3 = 15"), "5 * 3 = 15");
  // Inside an open code fence nothing is touched.
  assert.equal(closeOpenMarkers("```py\nx = 2 *"), "```py\nx = 2 *");
  // Only the last block: an earlier paragraph keeps its literal star.
  assert.equal(closeOpenMarkers("a * b\n\nnow *this"), "a * b\n\nnow *this*");
});
