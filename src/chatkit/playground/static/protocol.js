// The wire side of the playground: reading a server-sent event stream and applying item updates.
//
// Pure functions over protocol data; the page's state and DOM live in app.js.

import { findComponent, replaceComponent } from "./widgets.js";

// A refused request: what the server said, in words for people, and its request id for support.
export class RequestFailed extends Error {
  constructor(message, { status = null, code = null, requestId = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

const STATUS_WORDS = {
  400: "The server refused the request",
  401: "The server wants you to sign in: add the header it expects in Settings",
  403: "The server does not allow this",
  404: "Not found",
  413: "That is too large for the server",
  429: "The server is busy; try again in a moment",
  500: "The server failed to answer",
  502: "The server could not be reached",
  503: "The server is unavailable right now",
  504: "The server took too long to answer",
};

// The init of one protocol request: a JSON POST of `{type, params}` asking for `accept` (JSON or an event stream).
export function requestInit(type, params, accept, headers, signal) {
  const init = {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json", Accept: accept },
    body: JSON.stringify({ type, params }),
  };
  if (signal) init.signal = signal;
  return init;
}

// Reads a failed response: the ChatKit error body (`{"error": {"code", "message", "request_id"}}`) or any text.
export async function describeFailure(response) {
  const text = await response.text();
  let error = null;
  try {
    const body = JSON.parse(text);
    error = body?.error ?? body;
  } catch {
    // Not JSON: a proxy's page or plain text.
  }
  const detail = typeof error === "object" && error !== null ? error.message ?? error.detail : null;
  const fallback = STATUS_WORDS[response.status] ?? `The server answered ${response.status} ${response.statusText}`.trim();
  const plain = !error && text && text.length < 200 && !text.trimStart().startsWith("<") ? text.trim() : null;
  return new RequestFailed(typeof detail === "string" && detail ? detail : plain || fallback, {
    status: response.status,
    code: typeof error?.code === "string" ? error.code : null,
    requestId: (typeof error?.request_id === "string" ? error.request_id : null) ?? response.headers.get("x-request-id"),
  });
}

// Calls `onEvent(event, id)` with each `data: <json>` frame of the body as it arrives; frames end with a
// blank line. `id` is the frame's `id:` line (only the rejoin route numbers its frames), else null.
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
      const lines = frame.split("\n");
      const data = lines
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      const id = lines.find((line) => line.startsWith("id:"))?.slice(3).trim() ?? null;
      if (data) onEvent(JSON.parse(data), id);
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
