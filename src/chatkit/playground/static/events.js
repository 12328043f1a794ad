// What each event of an answer's stream means for the page's parts.

import { RequestFailed } from "./protocol.js";

// The failure an `error` event reports, with the request id of the stream it came on.
export function streamFailure(event, requestId) {
  return new RequestFailed(event.message || `The server could not finish the answer (${event.code}).`, {
    code: event.code,
    requestId,
  });
}

// The banner a `notice` shows: its level ("danger" is the banner's "error") and its words.
export function noticeBanner(event) {
  return [event.level === "danger" ? "error" : event.level, [event.title, event.message].filter(Boolean).join(": ")];
}

// Shows one event. `parts`: the streaming answer, navigation, conversation and banner, `showError(error,
// actions)`, and `retryActions()`, the banner actions that retry the last message.
export function showEvent(event, { answer, navigation, conversation, banner, showError, retryActions }) {
  switch (event.type) {
    case "stream_options":
      answer.setAllowCancel(event.stream_options?.allow_cancel !== false);
      break;
    case "thread.created":
      navigation.created(event.thread);
      break;
    case "thread.updated":
      navigation.updated(event.thread);
      break;
    // Progress stays up while a workflow shows what the work is; other output replaces it.
    case "thread.item.added":
      if (event.item.type !== "workflow") conversation.showProgress(null);
      conversation.put(event.item, true);
      break;
    case "thread.item.done":
    case "thread.item.replaced":
      if (event.item.type !== "workflow") conversation.showProgress(null);
      conversation.put(event.item);
      break;
    case "thread.item.removed":
      conversation.remove(event.item_id);
      break;
    case "thread.item.updated":
      conversation.update(event.item_id, event.update);
      break;
    case "progress_update":
      conversation.showProgress(event);
      break;
    case "error":
      showError(streamFailure(event, answer.requestId), event.allow_retry ? retryActions() : []);
      break;
    case "notice":
      banner.show(...noticeBanner(event));
      break;
    case "client_effect":
      banner.show("info", `Client effect “${event.name}”: ${JSON.stringify(event.data ?? {})}`);
      break;
    default:
      break;
  }
}
