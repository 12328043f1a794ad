// Exporting the open thread: as Markdown to read, or as the JSON items the server sent.

import { isShown } from "./conversation.js";

function itemMarkdown(item) {
  switch (item.type) {
    case "user_message": {
      const text = item.content.map((part) => part.text ?? (part.type === "input_tag" ? `@${part.text}` : "")).join("");
      const files = (item.attachments ?? []).map((attachment) => `\n\n*Attached: ${attachment.name}*`).join("");
      return `**You:** ${text}${files}`;
    }
    case "assistant_message":
      return `**Assistant:**\n\n${item.content.map((part) => part.text ?? "").join("\n\n")}${item.stopped ? "\n\n*(stopped)*" : ""}`;
    case "client_tool_call":
      return `*Client tool \`${item.name}\` (${item.status})*`;
    case "widget":
      return "*[widget]*";
    case "workflow":
      return `*Workflow: ${(item.workflow?.tasks ?? []).map((task) => task.title ?? task.type).join(", ")}*`;
    default:
      return null;
  }
}

// The thread as Markdown: its title, then each message the person saw, in order.
export function threadMarkdown(thread, items) {
  const parts = [`# ${thread?.title || "Conversation"}`];
  for (const item of items) {
    if (!isShown(item)) continue;
    const text = itemMarkdown(item);
    if (text) parts.push(text);
  }
  return `${parts.join("\n\n")}\n`;
}

// The thread as JSON: its metadata and its items as the server sent them.
export function threadJson(thread, items) {
  const { items: _page, ...metadata } = thread ?? {};
  const data = items.filter((item) => item.type !== "stopped_note").map(({ streaming, stopped, ...item }) => item);
  return `${JSON.stringify({ thread: metadata, items: data }, null, 2)}\n`;
}

// Starts the browser's download of `text` as a file.
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
