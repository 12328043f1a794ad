// The banner above the composer: one message at a time (info, warning or error), with optional action
// buttons and the request id as small print for support.

import { node } from "./items.js";

export class Banner {
  // `onActionFailed(error, actions)` hears of an action that failed, so a retry can offer itself again.
  constructor(element, { onActionFailed }) {
    this.element = element;
    this.onActionFailed = onActionFailed;
  }

  // Shows `message`; `actions` are [label, handler] pairs shown as buttons.
  show(level, message, { requestId = null, actions = [] } = {}) {
    const banner = this.element;
    banner.hidden = false;
    banner.className = `banner banner-${level}`;
    const text = node("div", "banner-text");
    text.append(node("span", "banner-message", message));
    if (requestId) text.append(node("small", "request-id", `Request id ${requestId}`));
    banner.replaceChildren(text);
    for (const [label, handler] of actions) {
      const button = node("button", "banner-action", label);
      button.type = "button";
      button.addEventListener("click", () => {
        this.hide();
        Promise.resolve(handler()).catch((error) => this.onActionFailed(error, actions));
      });
      banner.append(button);
    }
    const close = node("button", "banner-close", "×");
    close.type = "button";
    close.title = "Dismiss";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", () => this.hide());
    banner.append(close);
  }

  hide() {
    this.element.hidden = true;
  }
}
