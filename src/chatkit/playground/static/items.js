// How each kind of thread item looks. Renderers return DOM nodes; what a click does is up to the
// `handlers` the page passes in (`onWidgetAction`, `onFeedback`, `onRetry`).

import { renderMarkdown } from "./markdown.js";
import { iconGlyph, renderWidget } from "./widgets.js";

export function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

export function renderAttachment(attachment) {
  const chip = node("span", "attachment");
  if (attachment.type === "image" && attachment.preview_url) {
    const img = node("img", "attachment-preview");
    img.src = attachment.preview_url;
    img.alt = attachment.name;
    chip.append(img);
  }
  chip.append(node("span", "attachment-name", attachment.name));
  return chip;
}

const ITEM_RENDERERS = {
  user_message(item) {
    const bubble = node("div", "bubble");
    if (item.quoted_text) bubble.append(node("blockquote", "quoted", item.quoted_text));
    const text = item.content
      .map((part) => (part.type === "input_tag" ? `@${part.text}` : part.text))
      .join(" ")
      .trim();
    bubble.append(node("div", "user-text", text));
    if (item.attachments?.length) {
      const row = node("div", "attachments");
      row.append(...item.attachments.map(renderAttachment));
      bubble.append(row);
    }
    return [bubble];
  },
  assistant_message(item, handlers) {
    const body = node("div", "markdown assistant-text");
    body.innerHTML = item.content.map((part) => renderMarkdown(part.text ?? "")).join("\n");
    const parts = [body];
    const sources = item.content.flatMap((part) => part.annotations ?? []).filter(Boolean);
    if (sources.length) {
      const list = node("ol", "sources");
      for (const annotation of sources) {
        const source = annotation.source ?? {};
        const entry = node("li");
        if (source.url) {
          const link = node("a", null, source.title || source.url);
          link.href = source.url;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          entry.append(link);
        } else entry.textContent = source.title || source.filename || source.type || "source";
        list.append(entry);
      }
      parts.push(list);
    }
    if (!item.streaming) parts.push(messageActions(item, handlers));
    return parts;
  },
  widget(item, handlers) {
    return [renderWidget(item.widget, { onAction: (action, el) => handlers.onWidgetAction(item, action, el) })];
  },
  workflow(item) {
    const details = node("details", "workflow");
    details.open = item.workflow.expanded !== false;
    const summary = node("summary");
    const info = item.workflow.summary;
    if (info?.title) summary.textContent = `${info.icon ? `${iconGlyph(info.icon)} ` : ""}${info.title}`;
    else if (info?.duration !== undefined) summary.textContent = `Worked for ${info.duration}s`;
    else summary.textContent = item.workflow.type === "reasoning" ? "Thinking…" : "Working…";
    details.append(summary);
    const list = node("ol", "tasks");
    for (const task of item.workflow.tasks) list.append(renderTask(task));
    details.append(list);
    return [details];
  },
  task(item) {
    const list = node("ul", "tasks");
    list.append(renderTask(item.task));
    return [list];
  },
  client_tool_call(item) {
    const line = node("div", "tool-call");
    line.append(node("code", null, item.name), ` client tool · ${item.status}`);
    if (item.output !== undefined && item.output !== null) {
      line.append(node("pre", "tool-output", JSON.stringify(item.output, null, 2)));
    }
    return [line];
  },
  generated_image(item) {
    if (!item.image) return [node("div", "caption", `Generating image… ${Math.round((item.progress ?? 0) * 100)}%`)];
    const img = node("img", "generated-image");
    img.src = item.image.url;
    img.alt = "Generated image";
    return [img];
  },
  structured_input(item) {
    const box = node("div", "caption");
    box.textContent = `Structured input (${item.status}): ${item.inputs.map((input) => input.question).join(" · ")}`;
    return [box];
  },
};

function renderUnknown(item) {
  return [node("div", "caption", `(${item.type} item)`)];
}

function renderTask(task) {
  const entry = node("li", `task task-${task.status_indicator ?? "none"}`);
  const mark = task.status_indicator === "complete" ? "✓" : task.status_indicator === "loading" ? "◌" : "•";
  entry.append(node("span", "task-mark", mark), node("span", "task-title", task.title ?? task.type));
  if (task.content) {
    const content = node("div", "task-content markdown");
    content.innerHTML = renderMarkdown(task.content);
    entry.append(content);
  }
  return entry;
}

function messageActions(item, handlers) {
  const row = node("div", "message-actions");
  for (const [kind, label, title] of [
    ["positive", "▲ Good", "Good answer"],
    ["negative", "▼ Bad", "Bad answer"],
  ]) {
    const button = node("button", `feedback feedback-${kind}`, label);
    button.type = "button";
    button.title = title;
    if (item.feedback === kind) button.classList.add("chosen");
    button.addEventListener("click", () => handlers.onFeedback(item, kind));
    row.append(button);
  }
  const retry = node("button", "retry", "↻ Retry");
  retry.type = "button";
  retry.title = "Answer the previous message again";
  retry.addEventListener("click", () => handlers.onRetry(item));
  const copy = node("button", "copy", "Copy");
  copy.type = "button";
  copy.addEventListener("click", () => navigator.clipboard?.writeText(item.content.map((part) => part.text).join("\n")));
  row.append(retry, copy);
  return row;
}

export function renderItemParts(item, handlers) {
  return ITEM_RENDERERS[item.type]?.(item, handlers) ?? renderUnknown(item);
}
