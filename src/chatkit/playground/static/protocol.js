// The wire side of the playground: reading a server-sent event stream and applying item updates.
//
// Pure functions over protocol data; the page's state and DOM live in app.js.

import { findComponent, replaceComponent } from "./widgets.js";

export class RequestFailed extends Error {}

export async function describeFailure(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    const detail = body.error ?? body.detail ?? body.message ?? text;
    return `${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`;
  } catch {
    return `${response.status}: ${text || response.statusText}`;
  }
}

// Calls `onEvent` with each `data: <json>` frame of the body as it arrives; frames end with a blank line.
export async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}

// Patches `item` in place with a `thread.item.updated` update; false for an update it does not know.
export function applyUpdate(item, update) {
  switch (update.type) {
    case "assistant_message.content_part.added":
    case "assistant_message.content_part.done":
      item.content[update.content_index] = update.content;
      break;
    case "assistant_message.content_part.text_delta": {
      const part = (item.content[update.content_index] ??= { type: "output_text", text: "", annotations: [] });
      part.text += update.delta;
      break;
    }
    case "assistant_message.content_part.annotation_added": {
      const part = item.content[update.content_index];
      if (part) (part.annotations ??= [])[update.annotation_index] = update.annotation;
      break;
    }
    case "widget.streaming_text.value_delta": {
      const component = findComponent(item.widget, update.component_id);
      if (component) component.value = (component.value ?? "") + update.delta;
      break;
    }
    case "widget.root.updated":
      item.widget = update.widget;
      break;
    case "widget.component.updated":
      replaceComponent(item.widget, update.component_id, update.component);
      break;
    case "workflow.task.added":
    case "workflow.task.updated":
      item.workflow.tasks[update.task_index] = update.task;
      break;
    case "generated_image.updated":
      item.image = update.image;
      item.progress = update.progress;
      break;
    default:
      return false;
  }
  return true;
}
