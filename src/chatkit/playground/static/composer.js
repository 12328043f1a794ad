// The composer: the message box, its send and stop buttons, and the files chosen for the next message.
//
// It owns those elements; sending, stopping and uploading are the page's, passed in as callbacks.

import { PendingAttachments } from "./attachments.js";
import { RequestFailed } from "./protocol.js";

// Past this height the message box scrolls instead of growing.
const MAX_HEIGHT_PX = 200;

// The message box's height for content `scrollHeight` pixels tall.
export function boxHeight(scrollHeight) {
  return {
    height: `${Math.min(scrollHeight, MAX_HEIGHT_PX)}px`,
    overflowY: scrollHeight > MAX_HEIGHT_PX ? "auto" : "hidden",
  };
}

// Enter sends, Shift+Enter breaks the line; a composing input method keeps its Enter.
export function sendsOnKey(event) {
  return event.key === "Enter" && !event.shiftKey && !event.isComposing;
}

// A message's content: typed text, or a start-screen prompt (text, or content parts as they are).
export function messageContent(prompt) {
  if (typeof prompt !== "string") return prompt;
  // A message of files alone has no text part.
  return prompt ? [{ type: "input_text", text: prompt }] : [];
}

// The `input` of a user message.
export function userInput(content, attachmentIds, inferenceOptions = {}) {
  return { content, attachments: attachmentIds, quoted_text: null, inference_options: inferenceOptions };
}

// The `inference_options` of a message: the model and the tool chosen in the composer, if any.
export function inferenceOptions(model, tool) {
  const options = {};
  if (model) options.model = model;
  if (tool) options.tool_choice = { id: tool };
  return options;
}

// The model picked at first: the one marked `default`, else the first that may be chosen.
export function defaultModel(models) {
  const usable = models.filter((model) => !model.disabled);
  return (usable.find((model) => model.default) ?? usable[0])?.id ?? null;
}

// A failed upload, said with the file's name; errors of the page itself stay as they are.
export function uploadFailure(file, error) {
  return error instanceof RequestFailed ? new RequestFailed(`Upload of ${file.name} failed: ${error.message}`, error) : error;
}

export class Composer {
  // `elements`: form, input, send, stop, attach, fileInput, pending. Callbacks: `onSend(draft)` (see
  // `takeDraft`; give it back with `restoreDraft` if it could not be sent),
  // `onStop()`, `upload(file)` (the attachment), `onRemoveUploaded(attachment)`, `onError(error)`;
  // `busy()` says whether an answer streams (nothing is sent then). `models` and `tools` are the
  // component's `composer.models` and `composer.tools` options.
  constructor(
    elements,
    { placeholder, attachments, models = [], tools = [], busy, onSend, onStop, upload, onRemoveUploaded, onError },
  ) {
    this.el = elements;
    this.placeholder = placeholder;
    this.tools = tools;
    this.buildPickers(models, tools);
    this.busy = busy;
    this.upload = upload;
    this.onError = onError;
    this.pending = new PendingAttachments(elements.pending, {
      onRemove: (entry) => {
        if (entry.attachment) onRemoveUploaded(entry.attachment);
      },
    });
    elements.input.placeholder = placeholder;
    elements.attach.hidden = !attachments;
    elements.form.addEventListener("submit", (event) => {
      event.preventDefault();
      // A message may be files alone; files still uploading hold it back.
      const text = elements.input.value.trim();
      if ((!text && this.pending.uploadedIds().length === 0) || busy() || this.pending.uploading()) return;
      onSend(this.takeDraft());
    });
    elements.input.addEventListener("keydown", (event) => {
      if (!sendsOnKey(event)) return;
      event.preventDefault();
      elements.form.requestSubmit();
    });
    elements.input.addEventListener("input", () => this.fit());
    elements.stop.addEventListener("click", onStop);
    elements.attach.addEventListener("click", () => elements.fileInput.click());
    elements.fileInput.addEventListener("change", () => {
      const files = [...elements.fileInput.files];
      elements.fileInput.value = "";
      this.addFiles(files);
    });
  }

  // Grows the message box with its text, up to its maximum.
  fit() {
    const input = this.el.input;
    input.style.height = "auto";
    const { height, overflowY } = boxHeight(input.scrollHeight);
    input.style.height = height;
    input.style.overflowY = overflowY;
  }

  focus() {
    this.el.input.focus();
  }

  // The model and tool pickers, shown only when the options offer a choice.
  buildPickers(models, tools) {
    const { modelPicker, toolPicker } = this.el;
    if (!modelPicker || !toolPicker) return;
    modelPicker.hidden = models.length === 0;
    modelPicker.replaceChildren(
      ...models.map((model) => {
        const option = new Option(model.label, model.id);
        option.disabled = Boolean(model.disabled);
        if (model.description) option.title = model.description;
        return option;
      }),
    );
    modelPicker.value = defaultModel(models) ?? "";
    toolPicker.hidden = tools.length === 0;
    toolPicker.replaceChildren(new Option("No tool", ""), ...tools.map((tool) => new Option(tool.label, tool.id)));
    toolPicker.addEventListener("change", () => {
      const tool = this.tools.find((candidate) => candidate.id === toolPicker.value);
      this.el.input.placeholder = tool?.placeholderOverride ?? this.placeholder;
    });
  }

  // The choices to send with the next message; a tool that is not `persistent` is cleared for the one after.
  takeInferenceOptions() {
    const { modelPicker, toolPicker } = this.el;
    const model = modelPicker && !modelPicker.hidden ? modelPicker.value : null;
    const tool = toolPicker && !toolPicker.hidden ? toolPicker.value : null;
    const chosen = this.tools.find((candidate) => candidate.id === tool);
    if (toolPicker && chosen && !chosen.persistent) {
      toolPicker.value = "";
      this.el.input.placeholder = this.placeholder;
    }
    return inferenceOptions(model, tool);
  }

  // Shows or hides the attach button (the server may take no files).
  enableAttachments(enabled) {
    this.el.attach.hidden = !enabled;
  }

  // The message being sent: its text and its uploaded attachments (`ids`, and the chips' `entries`).
  // The box and the chips empty.
  takeDraft() {
    const draft = {
      text: this.el.input.value.trim(),
      ids: this.pending.uploadedIds(),
      entries: this.pending.entries,
      inferenceOptions: this.takeInferenceOptions(),
    };
    this.el.input.value = "";
    this.pending.clear();
    this.fit();
    return draft;
  }

  // Puts back a message the server did not take, unless the person has started another one.
  restoreDraft(draft) {
    if (!this.el.input.value.trim()) {
      this.el.input.value = draft.text;
      this.fit();
    }
    this.pending.restore(draft.entries);
  }

  // Uploads files one after the other, each shown as a chip until it is up (or dropped on failure).
  async addFiles(files) {
    for (const file of files) {
      const entry = this.pending.add(file);
      try {
        entry.attachment = await this.upload(file);
      } catch (error) {
        this.pending.drop(entry);
        this.onError(uploadFailure(file, error));
      }
      this.pending.render();
    }
  }

  // Swaps send for stop while an answer streams (`view` from streaming.js's stopButtonState).
  showStreaming({ streaming, stopDisabled, stopTitle }) {
    const { send, stop } = this.el;
    stop.hidden = !streaming;
    send.hidden = streaming;
    stop.disabled = stopDisabled;
    stop.title = stopTitle;
    stop.setAttribute("aria-label", stopTitle);
  }
}
