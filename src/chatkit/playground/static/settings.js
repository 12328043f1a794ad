// What the person sets in the settings panel, kept in this browser's localStorage: request headers
// (per endpoint), the colour scheme and developer mode (the raw events panel).

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DEVELOPER = "chatkit-playground.developer";
const COLOR_SCHEME = "chatkit-playground.colorScheme";

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function remember(key, value) {
  try {
    if (value === null || value === "") localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage may be off (private windows, file pages): the setting lasts until the page closes.
  }
}

// "Name: value" lines; names that fetch would reject are reported instead of breaking every request.
export function parseHeaders(text) {
  const headers = {};
  const invalid = [];
  for (const raw of (text ?? "").split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim() : "";
    if (!HEADER_NAME.test(name)) invalid.push(line);
    else headers[name] = line.slice(colon + 1).trim();
  }
  return { headers, invalid };
}

export class Settings {
  // `serverScheme` is the server's `theme`; `onChange({headersChanged})` runs after a save.
  constructor(endpoint, { serverScheme, onChange }) {
    this.endpoint = endpoint;
    this.headersKey = `chatkit-playground.headers ${endpoint}`;
    this.serverScheme = serverScheme;
    this.onChange = onChange;
    this.systemDark = matchMedia("(prefers-color-scheme: dark)");
    this.systemDark.addEventListener("change", () => onChange({ headersChanged: false }));
    this.dialog = document.querySelector("#settings");
    this.fields = {
      endpoint: document.querySelector("#settings-endpoint"),
      headers: document.querySelector("#settings-headers"),
      scheme: document.querySelector("#settings-scheme"),
      developer: document.querySelector("#settings-developer"),
    };
    this.dialog.querySelector("form").addEventListener("submit", (event) => this.onSubmit(event));
    this.fields.headers.addEventListener("input", () => this.fields.headers.setCustomValidity(""));
  }

  headers() {
    return parseHeaders(stored(this.headersKey)).headers;
  }

  // The person's choice, else the server's `theme`, else the system's: the component's `ColorScheme`.
  colorScheme() {
    return stored(COLOR_SCHEME) || this.serverScheme || (this.systemDark.matches ? "dark" : "light");
  }

  developerMode() {
    return stored(DEVELOPER) === "on";
  }

  open() {
    this.fields.endpoint.textContent = new URL(this.endpoint, location.href).href;
    this.fields.headers.value = stored(this.headersKey) ?? "";
    this.fields.scheme.value = stored(COLOR_SCHEME) ?? "";
    this.fields.developer.checked = this.developerMode();
    this.fields.headers.setCustomValidity("");
    this.dialog.showModal();
  }

  onSubmit(event) {
    if (event.submitter?.value !== "save") return;
    const headers = this.fields.headers;
    const { invalid } = parseHeaders(headers.value);
    if (invalid.length) {
      event.preventDefault();
      headers.setCustomValidity(`Not a "Name: value" header line: ${invalid[0]}`);
      headers.reportValidity();
      return;
    }
    const headersChanged = (stored(this.headersKey) ?? "") !== headers.value.trim();
    remember(this.headersKey, headers.value.trim());
    remember(COLOR_SCHEME, this.fields.scheme.value);
    remember(DEVELOPER, this.fields.developer.checked ? "on" : null);
    this.onChange({ headersChanged });
  }
}
