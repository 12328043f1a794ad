// The conversation view: the open thread's items in order, drawn into the messages element, the start
// screen shown instead while there is no conversation, and the progress line of a running answer.
//
// It owns its items and elements only; what a button on an item does is the page's (`handlers`).

import { node, renderItemParts } from "./items.js";
import { applyUpdate } from "./protocol.js";
import { iconGlyph } from "./widgets.js";

// Items the server keeps for the model or for bookkeeping, never drawn.
const HIDDEN_ITEMS = new Set(["hidden_context_item", "sdk_hidden_context", "end_of_turn"]);

export function isShown(item) {
  return !HIDDEN_ITEMS.has(item.type);
}

// The class list of an item's element: its type, and whether the person stopped it.
export function itemClass(item) {
  return `item item-${item.type}${item.stopped ? " stopped" : ""}`;
}

// The last user message before the item `itemId` (the one a retry answers again), else null.
export function previousUserMessage(items, itemId) {
  let found = null;
  for (const item of items) {
    if (item.id === itemId) return found;
    if (item.type === "user_message") found = item;
  }
  return found;
}

// When a stream ends the items it left open are final; a stopped answer is marked as such. Settles
// `items` in place; gives the items to redraw, and whether a stop marked no message (so a note says it).
export function settle(items, stopped) {
  const changed = [];
  let marked = false;
  for (const item of items) {
    if (!item.streaming) continue;
    item.streaming = false;
    if (stopped && item.type === "assistant_message") {
      item.stopped = true;
      marked = true;
    }
    changed.push(item);
  }
  return { changed, needsNote: stopped && !marked };
}

// The text of a progress update: its icon, then its words.
export function progressText(event) {
  return `${event.icon ? `${iconGlyph(event.icon)} ` : ""}${event.text}`;
}

export class Conversation {
  // `elements`: messages, start, greeting, prompts, progress. `follower` keeps the end in view;
  // `handlers` are the item buttons' (see items.js); `streaming()` says whether an answer streams and
  // `threadOpen()` whether the page shows a thread (else a new conversation).
  constructor(elements, follower, { handlers, streaming, threadOpen }) {
    this.el = elements;
    this.follower = follower;
    this.handlers = handlers;
    this.streaming = streaming;
    this.threadOpen = threadOpen;
    this.items = new Map();
  }

  // The start screen: greeting and prompt buttons; `onPrompt(prompt)` runs when one is clicked.
  buildStart(greeting, prompts, onPrompt) {
    this.el.greeting.textContent = greeting;
    this.el.prompts.replaceChildren(
      ...prompts.map((prompt) => {
        const button = node("button", "start-prompt");
        button.type = "button";
        if (prompt.icon) button.append(node("span", "start-prompt-icon", iconGlyph(prompt.icon)));
        button.append(node("span", null, prompt.label));
        button.addEventListener("click", () => onPrompt(prompt));
        return button;
      }),
    );
  }

  // Shows the start screen in a new conversation that has nothing in it yet, else the messages.
  showStart() {
    this.el.start.hidden = this.threadOpen() || this.items.size > 0;
    this.el.messages.hidden = !this.el.start.hidden;
  }

  // Adds or replaces an item; one between its `added` and `done` events is still streaming and gets
  // no action buttons yet.
  put(item, streaming = false) {
    const previous = this.items.get(item.id);
    this.items.set(item.id, { ...structuredClone(item), streaming, stopped: previous?.stopped ?? false });
    this.render(this.items.get(item.id));
    this.showStart();
    // The person's own message always brings the view down; the rest follows only if they are there.
    if (item.type === "user_message") this.follower.pin();
    else this.follower.contentChanged(this.streaming());
  }

  // Applies a `thread.item.updated` update to the item it names.
  update(itemId, update) {
    const item = this.items.get(itemId);
    if (item && applyUpdate(item, update)) {
      this.render(item);
      this.follower.contentChanged(this.streaming());
    }
  }

  // The server's `thread.item.removed`.
  remove(itemId) {
    this.items.delete(itemId);
    this.element(itemId)?.remove();
  }

  // Removes every item after `itemId` (a retry answers it again).
  removeAfter(itemId) {
    const ids = [...this.items.keys()];
    for (const id of ids.slice(ids.indexOf(itemId) + 1)) this.remove(id);
  }

  // Ends the stream's open items; in an open thread a stop that marked no message leaves a note.
  settle(stopped) {
    const { changed, needsNote } = settle(this.items.values(), stopped);
    for (const item of changed) this.render(item);
    if (needsNote && this.threadOpen()) {
      const id = `stopped_${Date.now()}`;
      this.items.set(id, { id, type: "stopped_note" });
      this.render(this.items.get(id));
    }
    this.follower.contentChanged(false);
  }

  // Marks what stopped answers ended on, as the server names them after a reload: an answer gets its
  // "Stopped" mark; any other item (the person's message, when the stop came before any answer) is
  // followed by a "Stopped" note.
  markStopped(itemIds) {
    for (const itemId of itemIds) {
      const item = this.items.get(itemId);
      if (!item) continue;
      if (item.type === "assistant_message") {
        item.stopped = true;
        this.render(item);
        continue;
      }
      const note = { id: `stopped_after_${itemId}`, type: "stopped_note" };
      if (this.items.has(note.id)) continue;
      const entries = [...this.items.entries()];
      const at = entries.findIndex(([id]) => id === itemId) + 1;
      this.items = new Map([...entries.slice(0, at), [note.id, note], ...entries.slice(at)]);
      this.render(note, this.element(itemId));
    }
  }

  // Brings the view to its end, following new content from there.
  pin() {
    this.follower.pin();
  }

  // Empties the view for another thread.
  clear() {
    this.items.clear();
    this.el.messages.replaceChildren();
    this.follower.pin();
  }

  previousUserMessage(itemId) {
    return previousUserMessage(this.items.values(), itemId);
  }

  // The person's last message, which a failed answer's "Retry" sends again.
  lastUserMessage() {
    return [...this.items.values()].filter((item) => item.type === "user_message").at(-1) ?? null;
  }

  // The last item the person can see, which may be a client tool call waiting for the page.
  lastShown() {
    return [...this.items.values()].filter(isShown).at(-1) ?? null;
  }

  // The element drawing an item, if it is drawn.
  element(itemId) {
    return this.el.messages.querySelector(`[data-item-id="${CSS.escape(itemId)}"]`);
  }

  // Draws an item anew, in place if it is already drawn, else after the element `after` (or at the end).
  render(item, after = null) {
    if (!isShown(item)) return;
    let el = this.element(item.id);
    if (!el) {
      el = document.createElement("article");
      el.dataset.itemId = item.id;
      if (after) after.after(el);
      else this.el.messages.append(el);
    }
    el.className = itemClass(item);
    el.dataset.type = item.type;
    el.replaceChildren(...renderItemParts(item, this.handlers));
  }

  // Redraws everything (the colour scheme changed).
  renderAll() {
    for (const item of this.items.values()) this.render(item);
  }

  // Shows a `progress_update`, or hides the progress line for null.
  showProgress(event) {
    this.el.progress.hidden = !event;
    this.el.progress.textContent = event ? progressText(event) : "";
  }
}
