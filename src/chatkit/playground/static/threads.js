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

// Whether a thread's label matches what the person typed in the search box (case and accents aside).
export function matchesSearch(label, query) {
  const fold = (text) => text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();
  return fold(label).includes(fold(query.trim()));
}

export class ThreadList {
  // `onChoose(id)`, `onDelete(id)` and `onRename(id, title)` run for the entry's buttons; `showDelete`
  // and `showRename` say which buttons an entry has (the `history` option).
  constructor(list, { onChoose, onDelete, onRename, showDelete = true, showRename = true }) {
    this.list = list;
    this.onChoose = onChoose;
    this.onDelete = onDelete;
    this.onRename = onRename;
    this.showDelete = showDelete;
    this.showRename = showRename;
    this.activeId = null;
    this.query = "";
  }

  // Shows only the threads whose label matches `query` (all for an empty one).
  filter(query) {
    this.query = query;
    for (const entry of this.list.children) entry.hidden = !matchesSearch(entry.dataset.label ?? "", query);
  }

  // Turns the entry's label into a text box; Enter saves the new title, Escape or leaving it cancels.
  startRename(threadId) {
    const entry = this.entry(threadId);
    const open = entry?.querySelector(".thread-open");
    if (!entry || !open || entry.querySelector(".thread-title-input")) return;
    const input = document.createElement("input");
    input.className = "thread-title-input";
    input.value = open.title.startsWith("Untitled · ") ? "" : open.title;
    input.setAttribute("aria-label", "Thread title");
    open.hidden = true;
    entry.prepend(input);
    input.focus();
    let done = false;
    const finish = (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      input.remove();
      open.hidden = false;
      if (save && title && title !== open.title) this.onRename(threadId, title);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      else if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(false));
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
    entry.dataset.label = threadLabel(thread);
    const open = node("button", "thread-open");
    open.append(...labelParts(thread));
    open.type = "button";
    open.title = threadLabel(thread);
    open.addEventListener("click", () => this.onChoose(thread.id));
    entry.append(open);
    if (this.showRename) {
      const rename = node("button", "thread-rename", "✎");
      rename.type = "button";
      rename.title = "Rename thread";
      rename.setAttribute("aria-label", `Rename ${threadLabel(thread)}`);
      rename.addEventListener("click", () => this.startRename(thread.id));
      entry.append(rename);
    }
    if (this.showDelete) {
      const remove = node("button", "thread-delete", "×");
      remove.type = "button";
      remove.title = "Delete thread";
      remove.setAttribute("aria-label", `Delete ${threadLabel(thread)}`);
      remove.addEventListener("click", () => this.onDelete(thread.id));
      entry.append(remove);
    }
    entry.hidden = !matchesSearch(entry.dataset.label, this.query);
    if (atTop) this.list.prepend(entry);
    else this.list.append(entry);
    this.markActive(this.activeId);
  }

  // Shows a thread's new title.
  update(thread) {
    const entry = this.entry(thread.id);
    const open = entry?.querySelector(".thread-open");
    if (!entry || !open) return;
    open.replaceChildren(...labelParts(thread));
    open.title = threadLabel(thread);
    entry.dataset.label = threadLabel(thread);
    entry.hidden = !matchesSearch(entry.dataset.label, this.query);
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
