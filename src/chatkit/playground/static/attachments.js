// The composer's pending attachments: files chosen for the next message, shown as chips while they
// upload. It owns the list and its element; deleting an uploaded one on the server is the page's.

import { node } from "./items.js";

export class PendingAttachments {
  // `onRemove(entry)` hears of a chip the person removed.
  constructor(element, { onRemove }) {
    this.element = element;
    this.onRemove = onRemove;
    this.entries = [];
  }

  // Adds a file still uploading; its entry gets `attachment` once the server has it.
  add(file) {
    const entry = { file, attachment: null, preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null };
    this.entries.push(entry);
    this.render();
    return entry;
  }

  drop(entry) {
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.render();
  }

  clear() {
    this.entries = [];
    this.render();
  }

  // Shows again the chips of a message that was not sent, before any chosen since.
  restore(entries) {
    this.entries = [...entries, ...this.entries];
    this.render();
  }

  // The ids of the uploaded attachments, for the message being sent.
  uploadedIds() {
    return this.entries.filter((entry) => entry.attachment).map((entry) => entry.attachment.id);
  }

  // True while a file is still uploading (sending must wait).
  uploading() {
    return this.entries.some((entry) => !entry.attachment);
  }

  render() {
    this.element.replaceChildren(
      ...this.entries.map((entry) => {
        const chip = node("span", `attachment pending${entry.attachment ? " uploaded" : ""}`);
        if (entry.preview) {
          const img = node("img", "attachment-preview");
          img.src = entry.preview;
          img.alt = entry.file.name;
          chip.append(img);
        }
        chip.append(node("span", "attachment-name", entry.file.name));
        const remove = node("button", "attachment-remove", "×");
        remove.type = "button";
        remove.title = "Remove attachment";
        remove.addEventListener("click", () => {
          this.drop(entry);
          this.onRemove(entry);
        });
        chip.append(remove);
        return chip;
      }),
    );
    this.element.hidden = this.entries.length === 0;
  }
}
