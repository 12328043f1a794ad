// The developer panel's raw event log: every request, answer and stream event as one line of JSON.

import { node } from "./items.js";
import { escapeHtml } from "./markdown.js";

// The log keeps the latest lines only, so a long session does not slow the page down.
const LIMIT = 400;

// One log line's HTML: the direction arrow, then the payload as JSON.
export function inspectorLineHtml(direction, payload) {
  return `<span class="dir">${escapeHtml(direction)}</span> ${escapeHtml(JSON.stringify(payload))}`;
}

export class Inspector {
  constructor(log, counter) {
    this.log = log;
    this.counter = counter;
    this.count = 0;
  }

  // Logs a payload: "→" sent, "←" received, "•" something the page did.
  record(direction, payload) {
    this.count += 1;
    this.counter.textContent = String(this.count);
    const line = node("div", `inspector-line inspector-${direction === "→" ? "out" : "in"}`);
    line.innerHTML = inspectorLineHtml(direction, payload);
    this.log.append(line);
    while (this.log.childElementCount > LIMIT) this.log.firstElementChild.remove();
    this.log.scrollTop = this.log.scrollHeight;
  }

  clear() {
    this.log.replaceChildren();
    this.count = 0;
    this.counter.textContent = "0";
  }
}
