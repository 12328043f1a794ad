// The one answer the page streams at a time: its own request's, or a running answer it rejoined
// (a reload, a second tab) through the server's rejoin route.
//
// Stopping aborts the fetch, and on a server of this package asks its stop route to stop the answer
// wherever it runs (the protocol has no cancel request: otherwise the server only sees a disconnect).
// Without the stop route a rejoined answer is not this page's request, and under the server's
// "finish" policy no answer stops with its page, so there stopping only detaches the page.

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
export function stopButtonState({ streaming, rejoined, stopDetaches, allowCancel, stopRoute = false }) {
  const detaches = !stopRoute && (rejoined || stopDetaches);
  return {
    streaming,
    rejoined,
    stopDisabled: !streaming || (!detaches && !allowCancel),
    stopTitle: detaches ? "Stop following (the answer goes on on the server)" : "Stop",
  };
}

export class Streaming {
  // `client` is the network client; `stopDetaches` is true under the server's "finish" policy;
  // `stopRoute` when the server has this package's stop route (it served the page). Hooks:
  // `onEvent(event)` shows an event; `onChange(view)` redraws the controls (see stopButtonState);
  // `onEnd({stopped, detached, threadId})` runs when a stream ends (`threadId` is the rejoined thread,
  // null for the page's own request); `onLost(threadId)` when a rejoined answer can no longer be
  // followed; `onError(error)` for a rejoined answer that failed; `isShowing(threadId)` says whether
  // the page still shows that thread; `inspect(direction, payload)` logs.
  constructor(client, { stopDetaches, stopRoute = false, onEvent, onChange, onEnd, onLost, onError, isShowing, inspect }) {
    this.client = client;
    this.stopDetaches = stopDetaches;
    this.stopRoute = stopRoute;
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
    // The thread of the answer streaming now (known once a new thread's first event came), and
    // whether the person stopped it through the stop route.
    this.threadId = null;
    this.stopping = false;
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
        stopRoute: this.stopRoute,
      }),
    );
  }

  // A stream starts: `done` settles once it has ended and the page has heard so.
  begin(controller, rejoined, threadId) {
    this.threadId = threadId;
    this.stopping = false;
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
    this.begin(controller, false, params.thread_id ?? null);
    let stopped = false;
    try {
      const response = await this.client.stream(type, params, controller.signal);
      this.requestId = response.headers.get("x-request-id");
      try {
        await readEvents(response.body, (event) => {
          if (event.type === "thread.created") this.threadId = event.thread.id;
          this.hooks.onEvent(event);
        });
      } catch (error) {
        if (error.name === "AbortError" || error instanceof SyntaxError) throw error;
        // The server took the request, then the connection broke: not the page's doing.
        throw new RequestFailed("The connection to the server was lost in the middle of the answer.", {
          code: "stream_lost",
          requestId: this.requestId,
        });
      }
    } catch (error) {
      if (error.name !== "AbortError") throw error;
      stopped = true;
    } finally {
      const kept = stopped && (this.stopping || !this.stopDetaches);
      if (stopped) this.hooks.inspect("•", kept ? { stopped: true } : { detached: true });
      this.end(kept, null);
    }
    return !stopped;
  }

  // The stop button: stops the answer, or only stops following it where stopping detaches.
  stopClicked() {
    if (!this.abort) return;
    if (this.stopRoute && this.threadId) {
      // The stream is let go at once; the server stops the answer and keeps what it had.
      this.stopping = true;
      this.client.stopTurn(this.threadId).catch((error) => this.hooks.onError(error));
    } else {
      this.detached = this.rejoined || this.stopDetaches;
    }
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
    this.begin(controller, true, threadId);
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
      // Leaving a rejoined answer does not stop it: nothing is marked "Stopped", unless stopped here.
      this.end(this.stopping, threadId);
    }
    if (lost && this.hooks.isShowing(threadId)) await this.hooks.onLost(threadId);
  }
}
