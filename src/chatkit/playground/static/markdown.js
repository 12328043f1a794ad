// A deliberately small Markdown renderer for chat answers.
//
// Safety comes first: every piece of source text is HTML-escaped before any markup is added, and
// links keep only http(s), mailto and same-site targets, so a model cannot inject HTML or script.
// It covers what assistants actually write: headings, paragraphs, bullet and numbered lists,
// fenced code, block quotes, rules, simple tables, and inline code, bold, italic, strike and links.
// A half-streamed answer renders sensibly (an unclosed fence is shown as code so far).

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

function safeUrl(url) {
  const trimmed = url.trim();
  if (/^(https?:|mailto:)/i.test(trimmed) || /^[/#?]/.test(trimmed) || !/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) {
    return trimmed;
  }
  return null;
}

export function renderInline(text) {
  // Code spans and links are cut out first so emphasis markers inside them stay literal.
  const slots = [];
  const keep = (html) => `\u0000${slots.push(html) - 1}\u0000`;
  let out = String(text).replace(/`([^`]+)`/g, (_, code) => keep(`<code>${escapeHtml(code)}</code>`));
  out = out.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, url) => {
    const href = safeUrl(url);
    if (href === null) return keep(escapeHtml(label));
    return keep(
      `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${renderEmphasis(escapeHtml(label))}</a>`,
    );
  });
  out = out.replace(/\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/g, (url) =>
    keep(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${escapeHtml(url)}</a>`),
  );
  out = renderEmphasis(escapeHtml(out));
  return out.replace(/\u0000(\d+)\u0000/g, (_, index) => slots[Number(index)]);
}

function renderEmphasis(html) {
  return html
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/__(?=\S)([\s\S]*?\S)__/g, "<strong>$1</strong>")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>")
    .replace(/(^|[^*\w])\*(?=\S)([^*]*?\S)\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(?=\S)([^_]*?\S)_(?!\w)/g, "$1<em>$2</em>");
}

const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*(\d+)[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

function tableCells(line) {
  return line
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((cell) => cell.trim());
}

// Text cut short (still streaming, or stopped) may end inside an emphasis or code span the model
// has not closed yet: close them, and drop markers that open nothing yet, so no raw `*` shows.
// Only the last block is touched; an open code fence already renders as code.
export function closeOpenMarkers(text) {
  const source = String(text ?? "");
  const fences = source.split("\n").filter((line) => FENCE.test(line)).length;
  if (fences % 2 === 1) return source;
  const start = source.lastIndexOf("\n\n") + 1;
  let tail = source.slice(start).replace(/(^|\s)[*_~`]+$/, "$1").trimEnd();
  const count = (pattern) => (tail.match(pattern) ?? []).length;
  const closers = [];
  if (count(/(?<!`)`(?!`)/g) % 2 === 1) closers.push("`");
  // Emphasis markers inside a code span are literal.
  const outsideCode = () => tail.replace(/`[^`]*`/g, "");
  const countOutside = (pattern) => (outsideCode().match(pattern) ?? []).length;
  if (countOutside(/~~/g) % 2 === 1) closers.unshift("~~");
  if (countOutside(/\*\*/g) % 2 === 1) closers.unshift("**");
  // A single `*` touching a word on one side (a bullet or `5 * 3` has space on both).
  if (countOutside(/(?<![*\s]|^)\*(?!\*)|(?<=^|\s)\*(?![*\s])/g) % 2 === 1) closers.unshift("*");
  if (closers.length) tail = tail + closers.join("");
  return source.slice(0, start) + tail;
}

export function renderMarkdown(source) {
  const lines = String(source ?? "")
    .replace(/\r\n?/g, "\n")
    .split("\n");
  const html = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = line.match(FENCE);
    if (fence) {
      const code = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[1]) && FENCE.test(lines[i]))) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1;
      const lang = fence[2] ? ` class="language-${escapeHtml(fence[2])}"` : "";
      html.push(`<pre><code${lang}>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      const level = heading[1].length;
      html.push(`<h${level}>${renderInline(heading[2])}</h${level}>`);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      html.push("<hr>");
      i += 1;
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      const head = tableCells(line);
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) {
        rows.push(tableCells(lines[i]));
        i += 1;
      }
      const th = head.map((cell) => `<th>${renderInline(cell)}</th>`).join("");
      const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${renderInline(cell)}</td>`).join("")}</tr>`);
      html.push(`<table><thead><tr>${th}</tr></thead><tbody>${body.join("")}</tbody></table>`);
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) {
        quoted.push(lines[i].match(QUOTE)[1]);
        i += 1;
      }
      html.push(`<blockquote>${renderMarkdown(quoted.join("\n"))}</blockquote>`);
      continue;
    }
    const listKind = BULLET.test(line) ? "ul" : NUMBERED.test(line) ? "ol" : null;
    if (listKind) {
      const pattern = listKind === "ul" ? BULLET : NUMBERED;
      const entries = [];
      const first = line.match(NUMBERED);
      while (i < lines.length && lines[i].trim()) {
        const match = lines[i].match(pattern);
        if (match) {
          entries.push(listKind === "ul" ? match[1] : match[2]);
        } else if (/^\s+\S/.test(lines[i]) && entries.length) {
          entries[entries.length - 1] += ` ${lines[i].trim()}`;
        } else {
          break;
        }
        i += 1;
      }
      const start = listKind === "ol" && first && first[1] !== "1" ? ` start="${Number(first[1])}"` : "";
      html.push(`<${listKind}${start}>${entries.map((entry) => `<li>${renderInline(entry)}</li>`).join("")}</${listKind}>`);
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !FENCE.test(lines[i]) &&
      !HEADING.test(lines[i]) &&
      !RULE.test(lines[i]) &&
      !QUOTE.test(lines[i]) &&
      !BULLET.test(lines[i]) &&
      !NUMBERED.test(lines[i])
    ) {
      paragraph.push(lines[i].trim());
      i += 1;
    }
    html.push(`<p>${paragraph.map(renderInline).join("<br>")}</p>`);
  }
  return html.join("\n");
}
