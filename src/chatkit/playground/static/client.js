// The playground's network side: protocol requests, streaming requests, the rejoin route and uploads.
//
// It keeps nothing about the page: the endpoint, the person's headers and the traffic log are given
// to it, and a streaming request hands its response back for the caller to read (and to abort).

import { RequestFailed, describeFailure, requestInit } from "./protocol.js";

// The rejoin route, replaying the running answer of a thread from its first frame.
export function rejoinUrl(endpoint, threadId) {
  return `${endpoint}/threads/${encodeURIComponent(threadId)}/stream?after=0`;
}

export class Client {
  // `headers()` is read at every request (the person may change them); `inspect(direction, payload)`
  // logs the traffic; `page` is the page's address, to say which server did not answer; `directUpload`
  // sends files to `<endpoint>/upload` instead of the two-phase protocol upload.
  constructor(endpoint, { headers, inspect, page, directUpload = false, fetch = globalThis.fetch.bind(globalThis) }) {
    this.endpoint = endpoint;
    this.headers = headers;
    this.inspect = inspect;
    this.page = page;
    this.directUpload = directUpload;
    this.fetch = fetch;
  }

  // Fetch failing outright (no answer at all) says "Failed to fetch"; say which server did not answer.
  async reach(url, init) {
    try {
      return await this.fetch(url, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new RequestFailed(`Cannot reach the server at ${new URL(url, this.page).href}: is it running?`, {
        code: "network",
      });
    }
  }

  // One non-streaming request: its JSON answer, or a RequestFailed.
  async call(type, params) {
    this.inspect("→", { type, params });
    const response = await this.reach(this.endpoint, requestInit(type, params, "application/json", this.headers()));
    if (!response.ok) throw await describeFailure(response);
    const body = await response.json();
    this.inspect("←", body);
    return body;
  }

  // A request sent as the page goes away (`keepalive`: the browser finishes it after the page is gone).
  sendAsLeaving(type, params) {
    this.inspect("→", { type, params });
    this.fetch(this.endpoint, { ...requestInit(type, params, "application/json", this.headers()), keepalive: true }).catch(
      () => {},
    );
  }

  // One streaming request: the accepted response, whose body is the event stream still to read.
  async stream(type, params, signal) {
    this.inspect("→", { type, params });
    const response = await this.reach(
      this.endpoint,
      requestInit(type, params, "text/event-stream", this.headers(), signal),
    );
    if (!response.ok) throw await describeFailure(response);
    return response;
  }

  // The answer running on a thread, as an event-stream response; null when none runs (204), when the
  // server refuses (404 or any other status: the thread shows as loaded) or when `signal` aborted.
  async rejoin(threadId, signal) {
    const url = rejoinUrl(this.endpoint, threadId);
    this.inspect("→", { GET: url });
    let response;
    try {
      response = await this.reach(url, { headers: { ...this.headers(), Accept: "text/event-stream" }, signal });
    } catch (error) {
      if (error.name === "AbortError") return null;
      throw error;
    }
    if (response.status === 200) return response;
    await this.discard(response);
    return null;
  }

  // Stops the answer running on a thread, in whichever server process runs it (this package's stop
  // route; the protocol itself has none). Whether one was running; false when the server refused.
  async stopTurn(threadId) {
    const url = `${this.endpoint}/threads/${encodeURIComponent(threadId)}/stop`;
    this.inspect("→", { POST: url });
    const response = await this.reach(url, { method: "POST", headers: this.headers() });
    if (!response.ok) {
      await this.discard(response);
      return false;
    }
    const body = await response.json();
    this.inspect("←", body);
    return body.stopped === true;
  }

  // What the server supports (this package's capabilities route); null when it does not say.
  capabilities() {
    return this.optionalJson(`${this.endpoint}/capabilities`);
  }

  // The ids of the items a stopped answer ended on (this package's route); none when it cannot tell.
  async stoppedItems(threadId) {
    const body = await this.optionalJson(`${this.endpoint}/threads/${encodeURIComponent(threadId)}/stopped`);
    return Array.isArray(body?.items) ? body.items : [];
  }

  // GETs a nicety of this package's own routes: its JSON, or null on any failure (the page does without).
  async optionalJson(url) {
    this.inspect("→", { GET: url });
    try {
      const response = await this.reach(url, { headers: this.headers() });
      if (!response.ok) {
        await this.discard(response);
        return null;
      }
      const body = await response.json();
      this.inspect("←", body);
      return body;
    } catch {
      return null;
    }
  }

  // Lets go of a response the page will not read, logging only its status.
  async discard(response) {
    this.inspect("←", { status: response.status });
    await response.body?.cancel();
  }

  // Uploads a file the way this page was told to: the attachment the server made of it.
  async upload(file) {
    const attachment = this.directUpload ? await this.uploadDirect(file) : await this.uploadTwoPhase(file);
    this.inspect("•", { uploaded: attachment });
    return attachment;
  }

  // The protocol's upload: `attachments.create`, then the file sent where its descriptor says.
  async uploadTwoPhase(file) {
    const attachment = await this.call("attachments.create", {
      name: file.name,
      size: file.size,
      mime_type: file.type || "application/octet-stream",
    });
    const descriptor = attachment.upload_descriptor;
    if (!descriptor) return attachment;
    const response = await this.reach(descriptor.url, {
      method: descriptor.method,
      headers: descriptor.headers ?? {},
      body: file,
    });
    if (!response.ok) throw await describeFailure(response);
    const text = await response.text();
    try {
      const uploaded = JSON.parse(text);
      if (uploaded && uploaded.id === attachment.id) return uploaded;
    } catch {
      // An upload endpoint may answer with an empty body; the created attachment stands.
    }
    return { ...attachment, upload_descriptor: null };
  }

  // The server's own upload route: the file posted as a form, the attachment in the answer.
  async uploadDirect(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    const response = await this.reach(`${this.endpoint}/upload`, { method: "POST", headers: this.headers(), body: form });
    if (!response.ok) throw await describeFailure(response);
    return response.json();
  }
}
