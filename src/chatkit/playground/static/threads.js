// The sidebar's thread list: one entry per thread, the open one marked. It owns only its element;
// what opening or deleting a thread does is the page's, passed in as callbacks.

import { node } from "./items.js";

// What a thread is called in the list and the title bar: its title, else when it was made.
export function threadLabel(thread) {
  return thread.title || `Untitled · ${threadTime(thread)}`;
}

// When a thread was made, short enough for the thread list: "Dec 5, 4:20 PM" in the person's locale.
export function threadTime(thread) {
  return new Date(thread.created_at).toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
  });
}

// The list entry's label: an untitled thread's time never gives way to the ellipsis.
function labelParts(thread) {
  if (thread.title) return [node("span", "thread-name", thread.title)];
  return [node("span", "thread-name", "Untitled ·"), node("span", "thread-time", threadTime(thread))];
}

export class ThreadList {
  constructor(list, { onChoose, onDelete }) {
    this.list = list;
    this.onChoose = onChoose;
    this.onDelete = onDelete;
    this.activeId = null;
  }

  entry(threadId) {
    return this.list.querySelector(`[data-thread-id="${CSS.escape(threadId)}"]`);
  }

  // Empties the list (a fresh first page follows).
  clear() {
    this.list.replaceChildren();
  }

  // Adds a thread once, at the top for a new one, at the bottom for a later page.
  add(thread, atTop) {
    if (this.entry(thread.id)) return;
    const entry = node("li", "thread-entry");
    entry.dataset.threadId = thread.id;
    const open = node("button", "thread-open");
    open.append(...labelParts(thread));
    open.type = "button";
    open.title = threadLabel(thread);
    open.addEventListener("click", () => this.onChoose(thread.id));
    const remove = node("button", "thread-delete", "×");
    remove.type = "button";
    remove.title = "Delete thread";
    remove.setAttribute("aria-label", `Delete ${threadLabel(thread)}`);
    remove.addEventListener("click", () => this.onDelete(thread.id));
    entry.append(open, remove);
    if (atTop) this.list.prepend(entry);
    else this.list.append(entry);
    this.markActive(this.activeId);
  }

  // Shows a thread's new title.
  update(thread) {
    const open = this.entry(thread.id)?.querySelector(".thread-open");
    if (!open) return;
    open.replaceChildren(...labelParts(thread));
    open.title = threadLabel(thread);
  }

  remove(threadId) {
    this.entry(threadId)?.remove();
  }

  // Shows a thread as deleted, with `onUndo` in place of its name, until it goes or comes back.
  markDeleting(threadId, onUndo) {
    const entry = this.entry(threadId);
    if (!entry) return;
    entry.classList.add("deleting");
    const undo = node("button", "thread-undo", "Undo");
    undo.type = "button";
    undo.addEventListener("click", onUndo);
    const notice = node("div", "thread-deleted");
    notice.append(node("span", null, "Deleted"), undo);
    entry.append(notice);
  }

  unmarkDeleting(threadId) {
    const entry = this.entry(threadId);
    entry?.classList.remove("deleting");
    entry?.querySelector(".thread-deleted")?.remove();
  }

  // Marks the open thread (none for a new conversation).
  markActive(threadId) {
    this.activeId = threadId;
    for (const entry of this.list.children) entry.classList.toggle("active", entry.dataset.threadId === threadId);
  }
}
