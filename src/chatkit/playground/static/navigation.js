// Which thread the page shows, and moving between threads: the thread list's pages, opening one
// (following an answer still running on it), starting a new conversation, deleting, and the address.

import { showThreadInAddress, threadIdFromHash } from "./address.js";
import { RequestFailed } from "./protocol.js";
import { threadLabel } from "./threads.js";

export class Navigation {
  // `parts`: the network client, the streaming answer, the conversation view and the thread list.
  // `elements`: the title and the list's "load more" button. `page` is what the rest of the page does
  // as the person moves: `closeMenu()`, `hideBanner()`, `focusComposer()` and `showError(error, actions)`.
  // `threadPage` and `itemPage` are how many threads and items to ask for at once; `stopRoute` says the
  // server has this package's stop routes, which also name the answers stopped before a reload.
  // `titleText` is a fixed title for the header (the `header.title.text` option), else null.
  constructor(
    { client, answer, conversation, threadList },
    { title, moreThreads, exportMenu },
    page,
    { threadPage, itemPage, stopRoute = false, titleText = null },
  ) {
    this.client = client;
    this.answer = answer;
    this.conversation = conversation;
    this.threadList = threadList;
    this.el = { title, moreThreads, exportMenu };
    this.titleText = titleText;
    this.page = page;
    this.threadPage = threadPage;
    this.itemPage = itemPage;
    this.stopRoute = stopRoute;
    // The open thread (none: a new conversation) and where the list's next page starts.
    this.threadId = null;
    this.thread = null;
    this.threadsAfter = null;
    // Deletions waiting for their undo, by thread id (their timers).
    this.pendingDeletes = new Map();
  }

  // Loads the thread list's first page (`reset`) or its next one.
  async loadThreads(reset) {
    const list = await this.client.call("threads.list", {
      limit: this.threadPage,
      order: "desc",
      after: reset ? null : this.threadsAfter,
    });
    if (reset) this.threadList.clear();
    for (const thread of list.data) this.threadList.add(thread, false);
    this.threadsAfter = list.after ?? null;
    this.el.moreThreads.hidden = !list.has_more;
  }

  // Shows `thread` as the open one; `how` is "push" for a thread the person opened (so Back returns),
  // "replace" or "keep" otherwise.
  open(thread, how) {
    this.threadId = thread.id;
    this.thread = thread;
    showThreadInAddress(thread.id, how);
    this.renderTitle();
    this.threadList.markActive(this.threadId);
    this.conversation.showStart();
  }

  // A thread the server just made for the page's message.
  created(thread) {
    this.open(thread, "push");
    this.threadList.add(thread, true);
  }

  // The server's `thread.updated`: a new title, for instance.
  updated(thread) {
    this.thread = { ...this.thread, ...thread };
    this.threadList.update(thread);
    this.renderTitle();
  }

  // The person picked a thread in the list.
  choose(threadId) {
    this.page.closeMenu();
    if (threadId === this.threadId) return;
    this.select(threadId, "push").catch((error) => this.page.showError(error));
  }

  // Loads and shows a thread; `rejoin: false` shows it as saved, without following an answer that may
  // still run on it.
  async select(threadId, how, { rejoin = true } = {}) {
    await this.answer.stop();
    // The old thread leaves the screen at once, whether or not the new one loads.
    this.leave();
    this.threadId = threadId;
    this.thread = null;
    showThreadInAddress(threadId, how);
    if (!this.titleText) this.el.title.textContent = "Loading…";
    this.threadList.markActive(this.threadId);
    this.conversation.showStart();
    let thread;
    try {
      thread = await this.client.call("threads.get_by_id", { thread_id: threadId });
    } catch (error) {
      if (this.threadId !== threadId) return;
      if (!this.titleText) this.el.title.textContent = "Thread unavailable";
      const notFound = error instanceof RequestFailed && error.status === 404;
      this.page.showError(
        error,
        notFound ? [["Start a new chat", () => this.newThread("push")]] : [["Retry", () => this.select(threadId, "keep")]],
      );
      return;
    }
    if (this.threadId !== threadId) return;
    this.open(thread, "keep");
    for (const item of thread.items.data) this.conversation.put(item);
    let after = thread.items.after;
    let more = thread.items.has_more;
    while (more && this.threadId === threadId) {
      const items = await this.client.call("items.list", { thread_id: threadId, after, order: "asc", limit: this.itemPage });
      for (const item of items.data) this.conversation.put(item);
      after = items.after;
      more = items.has_more && items.data.length > 0;
    }
    if (this.stopRoute && this.threadId === threadId) {
      const stopped = await this.client.stoppedItems(threadId);
      if (this.threadId === threadId) this.conversation.markStopped(stopped);
    }
    if (rejoin && this.threadId === threadId) await this.answer.resume(threadId);
    this.conversation.pin();
  }

  // Shows a new, empty conversation, unless the page's own answer still streams. A rejoined answer is
  // left first: it goes on without the page.
  newThread(how) {
    this.page.closeMenu();
    if (this.answer.rejoined) {
      this.answer.stop().then(() => this.newThread(how));
      return;
    }
    if (this.answer.busy) return;
    this.threadId = null;
    this.thread = null;
    this.leave();
    showThreadInAddress(null, how);
    this.renderTitle();
    this.threadList.markActive(this.threadId);
    this.conversation.showStart();
    this.page.focusComposer();
  }

  // Gives a thread a new title (`threads.update`); the list and the header show it.
  async rename(threadId, title) {
    const thread = await this.client.call("threads.update", { thread_id: threadId, title });
    this.threadList.update(thread);
    if (this.threadId === threadId) this.updated(thread);
  }

  // Marks a thread deleted in the list (with an Undo in its place) and deletes it `undoSeconds` later,
  // unless the person takes it back meanwhile; a page closed before then deletes it on the way out.
  deleteWithUndo(threadId, undoSeconds = 6) {
    if (this.pendingDeletes.has(threadId)) return;
    const wasOpen = this.threadId === threadId;
    if (wasOpen) this.newThread("replace");
    const timer = setTimeout(() => this.deleteNow(threadId), undoSeconds * 1000);
    this.pendingDeletes.set(threadId, timer);
    this.threadList.markDeleting(threadId, () => {
      clearTimeout(timer);
      this.pendingDeletes.delete(threadId);
      this.threadList.unmarkDeleting(threadId);
      if (wasOpen) this.select(threadId, "push").catch((error) => this.page.showError(error));
    });
  }

  async deleteNow(threadId) {
    this.pendingDeletes.delete(threadId);
    try {
      await this.client.call("threads.delete", { thread_id: threadId });
      this.threadList.remove(threadId);
    } catch (error) {
      // Not deleted after all: the thread comes back to the list, and the page says why.
      this.threadList.unmarkDeleting(threadId);
      this.page.showError(error);
    }
  }

  // The page is going away: deletions still waiting for their undo happen now.
  leavingPage() {
    for (const [threadId, timer] of this.pendingDeletes) {
      clearTimeout(timer);
      this.client.sendAsLeaving("threads.delete", { thread_id: threadId });
    }
    this.pendingDeletes.clear();
  }

  // Opens what the address names, after Back, Forward or an edited address.
  async followAddress() {
    const threadId = threadIdFromHash(location.hash);
    if (threadId === (this.threadId ?? "")) return;
    await this.answer.stop();
    if (threadId) await this.select(threadId, "keep");
    else this.newThread("keep");
  }

  // The open thread leaves the screen.
  leave() {
    this.conversation.clear();
    this.page.hideBanner();
  }

  // The title bar names the open thread.
  renderTitle() {
    this.el.title.textContent = this.titleText ?? (this.thread ? threadLabel(this.thread) : "New conversation");
    // Only an open thread can be exported.
    if (this.el.exportMenu) this.el.exportMenu.hidden = !this.thread;
  }
}
