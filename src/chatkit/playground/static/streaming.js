// The one answer the page streams at a time: its own request's, or a running answer it rejoined
// (a reload, a second tab) through the server's rejoin route.
//
// Stopping aborts the fetch: the protocol has no cancel request, the server sees a disconnect. A
// rejoined answer is not this page's request, and under the server's "finish" policy no answer stops
// with its page, so there stopping only detaches the page from the answer.

import { RequestFailed, readEvents } from "./protocol.js";

// What the page does with a frame of a rejoined answer: "lost" for the closing `error` without an id
// (the turn can no longer be followed), "skip" for frames about a thread already open and a stop that is
// always allowed, else "show".
export function rejoinedFrame(event, id) {
  if (event.type === "error" && id === null) return "lost";
  if (event.type === "thread.created" || event.type === "stream_options") return "skip";
  return "show";
}

// How the stop button looks: hidden while nothing streams; when stopping only detaches it says so,
// and it is disabled when the server does not allow cancelling.
export function stopButtonState({ streaming, rejoined, stopDetaches, allowCancel }) {
  const detaches = rejoined || stopDetaches;
  return {
    streaming,
    rejoined,
    stopDisabled: !streaming || (!detaches && !allowCancel),
    stopTitle: detaches ? "Stop following (the answer goes on on the server)" : "Stop",
  };
}

export class Streaming {
  // `client` is the network client; `stopDetaches` is true under the server's "finish" policy. Hooks:
  // `onEvent(event)` shows an event; `onChange(view)` redraws the controls (see stopButtonState);
  // `onEnd({stopped, detached, threadId})` runs when a stream ends (`threadId` is the rejoined thread,
  // null for the page's own request); `onLost(threadId)` when a rejoined answer can no longer be
  // followed; `onError(error)` for a rejoined answer that failed; `isShowing(threadId)` says whether
  // the page still shows that thread; `inspect(direction, payload)` logs.
  constructor(client, { stopDetaches, onEvent, onChange, onEnd, onLost, onError, isShowing, inspect }) {
    this.client = client;
    this.stopDetaches = stopDetaches;
    this.hooks = { onEvent, onChange, onEnd, onLost, onError, isShowing, inspect };
    this.abort = null;
    this.done = Promise.resolve();
    // While a rejoin request waits for its answer; whether the stream shown is a rejoin; whether the
    // person asked to stop following it.
    this.resuming = null;
    this.rejoined = false;
    this.detached = false;
    this.allowCancel = true;
    this.requestId = null;
  }

  // True while an answer streams on the page.
  get busy() {
    return Boolean(this.abort);
  }

  // The server's `stream_options`: whether stopping may cancel the answer.
  setAllowCancel(allow) {
    this.allowCancel = allow;
    this.redraw();
  }

  // Tells the page how the stream controls look now.
  redraw() {
    this.hooks.onChange(
      stopButtonState({
        streaming: this.busy,
        rejoined: this.rejoined,
        stopDetaches: this.stopDetaches,
        allowCancel: this.allowCancel,
      }),
    );
  }

  // A stream starts: `done` settles once it has ended and the page has heard so.
  begin(controller, rejoined) {
    this.done = new Promise((resolve) => {
      this.finished = resolve;
    });
    this.abort = controller;
    this.rejoined = rejoined;
    this.redraw();
  }

  // The stream has ended; the page hears whether it was stopped and whether the person detached from it.
  end(stopped, threadId) {
    const detached = this.detached;
    this.detached = false;
    this.abort = null;
    this.rejoined = false;
    this.redraw();
    try {
      this.hooks.onEnd({ stopped, detached, threadId });
    } finally {
      this.finished();
    }
  }

  // Sends a streaming request and shows its events; true when it ran to its end, false when stopped.
  async run(type, params) {
    if (this.abort) throw new RequestFailed("An answer is still streaming: stop it first.");
    const controller = new AbortController();
    this.begin(controller, false);
    let stopped = false;
    try {
      const response = await this.client.stream(type, params, controller.signal);
      this.requestId = response.headers.get("x-request-id");
      await readEvents(response.body, (event) => this.hooks.onEvent(event));
    } catch (error) {
      if (error.name !== "AbortError") throw error;
      stopped = true;
      this.hooks.inspect("•", this.stopDetaches ? { detached: true } : { stopped: true });
    } finally {
      this.end(stopped && !this.stopDetaches, null);
    }
    return !stopped;
  }

  // The stop button: stops the answer, or only stops following it where stopping detaches.
  stopClicked() {
    if (!this.abort) return;
    this.detached = this.rejoined || this.stopDetaches;
    this.abort.abort();
  }

  // Stops whatever streams or waits to rejoin, and waits until the stream has ended.
  async stop() {
    this.resuming?.abort();
    if (!this.abort) return;
    this.abort.abort();
    await this.done;
  }

  // Asks the server whether an answer runs on the thread and, if so, follows it in the background.
  async resume(threadId) {
    if (this.abort || !this.hooks.isShowing(threadId)) return;
    const controller = new AbortController();
    this.resuming = controller;
    let response;
    try {
      response = await this.client.rejoin(threadId, controller.signal);
    } finally {
      if (this.resuming === controller) this.resuming = null;
    }
    if (!response) return;
    const current = !controller.signal.aborted && this.hooks.isShowing(threadId) && !this.abort;
    if (!current) {
      await this.client.discard(response);
      return;
    }
    this.requestId = response.headers.get("x-request-id");
    this.follow(threadId, response, controller).catch((error) => this.hooks.onError(error));
  }

  // Replays the running turn from its first frame: the page replaces items by id, so what the loaded
  // thread already shows is redrawn in place and the rest is added, as the original page saw it.
  async follow(threadId, response, controller) {
    this.begin(controller, true);
    let lost = false;
    try {
      await readEvents(response.body, (event, id) => {
        if (!this.hooks.isShowing(threadId)) return;
        const verdict = rejoinedFrame(event, id);
        if (verdict === "lost") lost = true;
        if (verdict === "show") this.hooks.onEvent(event);
        else this.hooks.inspect("←", event);
      });
    } catch (error) {
      if (error.name === "AbortError") this.hooks.inspect("•", { detached: true });
      else lost = true;
    } finally {
      // Leaving a rejoined answer does not stop it: nothing is marked "Stopped".
      this.end(false, threadId);
    }
    if (lost && this.hooks.isShowing(threadId)) await this.hooks.onLost(threadId);
  }
}
