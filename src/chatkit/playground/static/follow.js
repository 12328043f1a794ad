// Keeping a streaming answer in view: the web component's `thread.autoScroll`.
//
// The view follows new content while the person is near its end. Growing content never fires
// `scroll`, so only a move up (the person's doing) stops the following; the "jump to latest"
// button, or scrolling back down, starts it again.

// Within this distance of the end the view counts as "at the bottom".
const NEAR_BOTTOM_PX = 80;

export class Follower {
  constructor(view, jumpButton, { autoScroll }) {
    this.view = view;
    this.jumpButton = jumpButton;
    this.autoScroll = autoScroll;
    this.following = true;
    this.lastTop = 0;
    view.addEventListener("scroll", () => this.onScroll(), { passive: true });
    jumpButton.addEventListener("click", () => this.pin());
    window.addEventListener("resize", () => this.updateButton());
  }

  distanceFromBottom() {
    return this.view.scrollHeight - this.view.scrollTop - this.view.clientHeight;
  }

  // To the end, and following from now on (the person sent a message, opened a thread, or asked).
  pin() {
    this.following = true;
    this.toEnd();
  }

  toEnd() {
    this.view.scrollTop = this.view.scrollHeight;
    this.lastTop = this.view.scrollTop;
    this.updateButton();
  }

  // After content changed: keep up with it if following (while streaming only with `autoScroll`).
  contentChanged(streaming) {
    if (this.following && (this.autoScroll || !streaming)) this.toEnd();
    else this.updateButton();
  }

  onScroll() {
    const top = this.view.scrollTop;
    if (top < this.lastTop - 1) this.following = this.distanceFromBottom() <= NEAR_BOTTOM_PX;
    else if (this.distanceFromBottom() <= NEAR_BOTTOM_PX) this.following = true;
    this.lastTop = top;
    this.updateButton();
  }

  updateButton() {
    this.jumpButton.hidden = this.view.hidden || this.distanceFromBottom() <= NEAR_BOTTOM_PX;
  }
}
