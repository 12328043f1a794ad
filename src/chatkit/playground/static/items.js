// How each kind of thread item looks. Renderers return DOM nodes; what a click does is up to the
// `handlers` the page passes in (`onWidgetAction`, `onFeedback`, `onRetry`, `onCopy`), and which
// message buttons show is up to `handlers.actions` (the web component's `threadItemActions`).

import { closeOpenMarkers, renderMarkdown } from "./markdown.js";
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
    // An answer cut short may stop inside an emphasis the model never closed.
    const cut = item.streaming || item.stopped;
    body.innerHTML = item.content
      .map((part) => renderMarkdown(cut ? closeOpenMarkers(part.text) : (part.text ?? "")))
      .join("\n");
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
    if (item.stopped) parts.push(node("div", "stopped-mark", "Stopped"));
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
  // One compact line; the result, once there is one, unfolds from it.
  client_tool_call(item) {
    const hasOutput = item.output !== undefined && item.output !== null;
    const line = node(hasOutput ? "details" : "div", "tool-call");
    const label = hasOutput ? node("summary") : line;
    label.append(node("code", null, item.name), ` client tool · ${item.status}`);
    if (hasOutput) line.append(label, node("pre", "tool-output", JSON.stringify(item.output, null, 2)));
    return [line];
  },
  generated_image(item) {
    if (!item.image) return [node("div", "caption", `Generating image… ${Math.round((item.progress ?? 0) * 100)}%`)];
    const img = node("img", "generated-image");
    img.src = item.image.url;
    img.alt = "Generated image";
    return [img];
  },
  // Not a protocol item: the page's own note that a stop came before any answer text.
  stopped_note() {
    return [node("div", "stopped-mark", "Stopped")];
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

// Outline icons (24×24, drawn with the current text colour) for the buttons under an answer.
const ICON_PATHS = {
  positive: "M7 11v9H4v-9h3Zm0 0 4-7c1.5 0 2.5 1 2.2 2.5L12.5 10H18a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 16.8 20H7",
  negative: "M17 13V4h3v9h-3Zm0 0-4 7c-1.5 0-2.5-1-2.2-2.5l.7-3.5H6a2 2 0 0 1-2-2.3l1.2-6A2 2 0 0 1 7.2 4H17",
  retry: "M20 12a8 8 0 1 1-2.3-5.7M20 4v4.5h-4.5",
  copy: "M9 9h10v11H9zM5 15V4h10",
};

function iconButton(kind, className, label) {
  const button = node("button", `icon-button ${className}`);
  button.type = "button";
  button.title = label;
  button.setAttribute("aria-label", label);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICON_PATHS[kind]);
  svg.append(path);
  button.append(svg);
  return button;
}

function messageActions(item, handlers) {
  const row = node("div", "message-actions");
  const actions = handlers.actions ?? { feedback: true, retry: true };
  const copy = iconButton("copy", "copy", "Copy");
  copy.addEventListener("click", () => handlers.onCopy(item, copy));
  row.append(copy);
  if (actions.feedback) {
    for (const [kind, label] of [
      ["positive", "Good answer"],
      ["negative", "Bad answer"],
    ]) {
      const button = iconButton(kind, `feedback feedback-${kind}`, label);
      if (item.feedback === kind) {
        button.classList.add("chosen");
        button.setAttribute("aria-pressed", "true");
      }
      button.addEventListener("click", () => handlers.onFeedback(item, kind));
      row.append(button);
    }
  }
  if (actions.retry) {
    const retry = iconButton("retry", "retry", "Retry: answer the previous message again");
    retry.addEventListener("click", () => handlers.onRetry(item));
    row.append(retry);
  }
  return row;
}

export function renderItemParts(item, handlers) {
  return ITEM_RENDERERS[item.type]?.(item, handlers) ?? renderUnknown(item);
}
