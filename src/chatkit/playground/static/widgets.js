// Renders ChatKit widget JSON into plain DOM nodes.
//
// Text always goes through textContent (or the escaping Markdown renderer), never raw HTML.
// Layout props map onto flexbox; unknown components still show their children so a newer
// server's widget degrades instead of disappearing.

import { renderMarkdown } from "./markdown.js";

const GAP_UNIT_PX = 4;

const ICONS = {
  check: "✓",
  "check-circle": "✔",
  "check-circle-filled": "✔",
  star: "☆",
  "star-filled": "★",
  info: "ℹ",
  search: "⌕",
  sparkle: "✦",
  "sparkle-double": "✧",
  bolt: "ϟ",
  calendar: "▦",
  clock: "◷",
  globe: "◍",
  mail: "✉",
  phone: "☎",
  plus: "+",
  reload: "↻",
  user: "☺",
  document: "▤",
  "external-link": "↗",
  "chevron-left": "‹",
  "chevron-right": "›",
  lightbulb: "☀",
  "map-pin": "⌖",
};

export function iconGlyph(name) {
  return ICONS[name] ?? "•";
}

function length(value) {
  if (value === undefined || value === null) return null;
  return typeof value === "number" ? `${value}px` : String(value);
}

function spacing(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "number") return `${value * GAP_UNIT_PX}px`;
  if (typeof value === "string") return value;
  const side = (key) => (typeof value[key] === "number" ? `${value[key] * GAP_UNIT_PX}px` : value[key] ?? "0");
  if ("x" in value || "y" in value) return `${side("y")} ${side("x")}`;
  return `${side("top")} ${side("right")} ${side("bottom")} ${side("left")}`;
}

// Widgets may give a colour per scheme (`{light, dark}`); the page says which scheme is on.
let colorScheme = "light";

export function setColorScheme(scheme) {
  colorScheme = scheme === "dark" ? "dark" : "light";
}

// A root's `theme` holds for its subtree, whatever the page's scheme (rendering is synchronous).
function withScheme(scheme, render) {
  const page = colorScheme;
  colorScheme = scheme === "dark" ? "dark" : "light";
  try {
    return render();
  } finally {
    colorScheme = page;
  }
}

function color(value) {
  if (!value) return null;
  if (typeof value === "object") return value[colorScheme] ?? value.light ?? value.dark ?? null;
  return /^[a-z-]+$/.test(value) ? `var(--w-${value}, ${value})` : value;
}

const ALIGN = { start: "flex-start", end: "flex-end", center: "center", stretch: "stretch", baseline: "baseline" };
const JUSTIFY = {
  start: "flex-start",
  end: "flex-end",
  center: "center",
  between: "space-between",
  around: "space-around",
  evenly: "space-evenly",
  stretch: "stretch",
};

function applyBox(el, node) {
  const style = el.style;
  if (node.gap !== undefined) style.gap = spacing(node.gap);
  if (node.padding !== undefined) style.padding = spacing(node.padding);
  if (node.margin !== undefined) style.margin = spacing(node.margin);
  if (node.align) style.alignItems = ALIGN[node.align] ?? node.align;
  if (node.justify) style.justifyContent = JUSTIFY[node.justify] ?? node.justify;
  if (node.wrap) style.flexWrap = node.wrap;
  if (node.flex !== undefined) style.flex = String(node.flex);
  for (const key of ["width", "height", "minWidth", "minHeight", "maxWidth", "maxHeight"]) {
    if (node[key] !== undefined) style[key] = length(node[key]);
  }
  if (node.size !== undefined) style.width = style.height = length(node.size);
  if (node.background) style.background = color(node.background);
  if (node.radius) style.borderRadius = node.radius === "full" ? "999px" : `var(--radius-${node.radius}, 8px)`;
  if (node.border) style.border = `${typeof node.border === "number" ? node.border : node.border.size ?? 1}px solid var(--border)`;
  if (node.aspectRatio) style.aspectRatio = String(node.aspectRatio);
}

function children(node) {
  if (!node.children) return [];
  return Array.isArray(node.children) ? node.children : [node.children];
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined && text !== null) el.textContent = String(text);
  return el;
}

function textStyle(el, node) {
  if (node.weight) el.classList.add(`w-weight-${node.weight}`);
  if (node.size) el.classList.add(`w-size-${node.size}`);
  if (node.color) el.style.color = color(node.color);
  if (node.italic) el.style.fontStyle = "italic";
  if (node.lineThrough) el.style.textDecoration = "line-through";
  if (node.textAlign) el.style.textAlign = node.textAlign;
  if (node.truncate) el.classList.add("w-truncate");
}

function actionButton(label, action, ctx, className) {
  const button = element("button", className, label);
  button.type = "button";
  if (action) button.addEventListener("click", () => ctx.onAction(action, button));
  return button;
}

function formValues(root) {
  const values = {};
  for (const field of root.querySelectorAll("[name]")) {
    if (field.type === "checkbox") values[field.name] = field.checked;
    else if (field.type === "radio") {
      if (field.checked) values[field.name] = field.value;
    } else values[field.name] = field.value;
  }
  return values;
}

const RENDERERS = {
  Card(node, ctx) {
    const el = element("div", `w-card w-card-${node.size ?? "md"}`);
    if (node.status) el.append(status(node.status));
    // `asForm`: the card's fields travel with its confirm action, as with a Form's submit.
    const body = element(node.asForm ? "form" : "div", "w-col w-card-body");
    applyBox(body, { padding: node.padding });
    body.append(...children(node).map((child) => renderNode(child, ctx)));
    el.append(body);
    if (node.background) el.style.background = color(node.background);
    if (node.confirm || node.cancel) {
      const row = element("div", "w-row w-card-actions");
      if (node.cancel) row.append(actionButton(node.cancel.label, node.cancel.action, ctx, "w-button"));
      if (node.confirm) {
        const action = node.confirm.action;
        const button = actionButton(node.confirm.label, null, ctx, "w-button w-primary");
        button.addEventListener("click", () => {
          const sent = node.asForm ? { ...action, payload: { ...(action.payload ?? {}), ...formValues(body) } } : action;
          ctx.onAction(sent, button);
        });
        row.append(button);
      }
      el.append(row);
    }
    if (node.asForm) body.addEventListener("submit", (event) => event.preventDefault());
    return el;
  },
  ListView(node, ctx) {
    const el = element("div", "w-listview");
    if (node.status) el.append(status(node.status));
    const items = children(node);
    const limit = typeof node.limit === "number" ? node.limit : items.length;
    items.forEach((child, index) => {
      const rendered = renderNode(child, ctx);
      if (index >= limit) rendered.hidden = true;
      el.append(rendered);
    });
    if (items.length > limit) {
      const more = element("button", "w-button w-more", "Show more");
      more.addEventListener("click", () => {
        for (const hidden of el.querySelectorAll(":scope > [hidden]")) hidden.hidden = false;
        more.remove();
      });
      el.append(more);
    }
    return el;
  },
  ListViewItem(node, ctx) {
    const el = element("div", "w-row w-listitem");
    applyBox(el, { gap: node.gap ?? 2, align: node.align ?? "center" });
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    if (node.onClickAction) {
      el.classList.add("w-clickable");
      el.tabIndex = 0;
      el.addEventListener("click", () => ctx.onAction(node.onClickAction, el));
    }
    return el;
  },
  Basic(node, ctx) {
    const el = element("div", "w-col w-basic");
    applyBox(el, node);
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    return el;
  },
  Box(node, ctx) {
    const el = element("div", node.direction === "row" ? "w-row" : "w-col");
    applyBox(el, node);
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    return el;
  },
  Row(node, ctx) {
    const el = element("div", "w-row");
    applyBox(el, node);
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    return el;
  },
  Col(node, ctx) {
    const el = element("div", "w-col");
    applyBox(el, node);
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    return el;
  },
  Form(node, ctx) {
    const el = element("form", node.direction === "row" ? "w-row w-form" : "w-col w-form");
    applyBox(el, node);
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    el.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!node.onSubmitAction) return;
      const action = { ...node.onSubmitAction, payload: { ...(node.onSubmitAction.payload ?? {}), ...formValues(el) } };
      ctx.onAction(action, el);
    });
    return el;
  },
  Text(node) {
    const el = element("div", "w-text", node.value);
    el.dataset.componentId = node.id ?? "";
    textStyle(el, node);
    return el;
  },
  Title(node) {
    const el = element("div", "w-title", node.value);
    textStyle(el, node);
    return el;
  },
  Caption(node) {
    const el = element("div", "w-caption", node.value);
    textStyle(el, node);
    return el;
  },
  Label(node) {
    const el = element("label", "w-label", node.value);
    if (node.fieldName) el.htmlFor = node.fieldName;
    textStyle(el, node);
    return el;
  },
  Markdown(node) {
    const el = element("div", "w-markdown markdown");
    el.innerHTML = renderMarkdown(node.value ?? "");
    return el;
  },
  Badge(node) {
    const el = element("span", `w-badge w-badge-${node.variant ?? "soft"}`, node.label);
    if (node.color) el.style.setProperty("--badge", color(node.color));
    if (node.pill) el.classList.add("w-pill");
    return el;
  },
  Button(node, ctx) {
    const el = actionButton(node.label ?? "", node.onClickAction, ctx, "w-button");
    if (node.style === "primary" || node.color === "primary") el.classList.add("w-primary");
    if (node.block) el.classList.add("w-block");
    if (node.pill) el.classList.add("w-pill");
    if (node.iconStart) el.prepend(`${iconGlyph(node.iconStart)} `);
    if (node.iconEnd) el.append(` ${iconGlyph(node.iconEnd)}`);
    if (node.submit) el.type = "submit";
    el.disabled = Boolean(node.disabled);
    return el;
  },
  Image(node) {
    const el = element("img", "w-image");
    el.src = node.src;
    el.alt = node.alt ?? "";
    el.loading = "lazy";
    applyBox(el, node);
    if (node.fit) el.style.objectFit = node.fit;
    return el;
  },
  Icon(node) {
    const el = element("span", "w-icon", iconGlyph(node.name));
    el.title = node.name;
    if (node.color) el.style.color = color(node.color);
    return el;
  },
  Divider(node) {
    const el = element("hr", "w-divider");
    if (node.flush) el.classList.add("w-flush");
    return el;
  },
  Spacer() {
    return element("div", "w-spacer");
  },
  Transition(node, ctx) {
    const el = element("div", "w-col");
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    return el;
  },
  Input(node) {
    const el = element("input", "w-input");
    el.name = node.name;
    el.type = node.inputType ?? "text";
    el.placeholder = node.placeholder ?? "";
    el.value = node.defaultValue ?? "";
    el.required = Boolean(node.required);
    el.disabled = Boolean(node.disabled);
    return el;
  },
  Textarea(node) {
    const el = element("textarea", "w-input");
    el.name = node.name;
    el.placeholder = node.placeholder ?? "";
    el.value = node.defaultValue ?? "";
    el.rows = node.rows ?? 3;
    return el;
  },
  Select(node, ctx) {
    const el = element("select", "w-input");
    el.name = node.name;
    for (const option of node.options ?? []) {
      const opt = element("option", null, option.label);
      opt.value = option.value;
      el.append(opt);
    }
    if (node.defaultValue) el.value = node.defaultValue;
    if (node.onChangeAction) {
      el.addEventListener("change", () =>
        ctx.onAction({ ...node.onChangeAction, payload: { ...(node.onChangeAction.payload ?? {}), value: el.value } }, el),
      );
    }
    return el;
  },
  Checkbox(node) {
    const label = element("label", "w-row w-checkbox");
    const box = element("input");
    box.type = "checkbox";
    box.name = node.name;
    box.checked = Boolean(node.defaultChecked);
    label.append(box, node.label ?? "");
    return label;
  },
  RadioGroup(node) {
    const el = element("div", node.direction === "col" ? "w-col" : "w-row");
    for (const option of node.options ?? []) {
      const label = element("label", "w-row w-checkbox");
      const radio = element("input");
      radio.type = "radio";
      radio.name = node.name;
      radio.value = option.value;
      radio.checked = option.value === node.defaultValue;
      label.append(radio, option.label);
      el.append(label);
    }
    return el;
  },
  DatePicker(node) {
    const el = element("input", "w-input");
    el.type = "date";
    el.name = node.name;
    el.value = node.defaultValue ?? "";
    return el;
  },
  Table(node, ctx) {
    const wrapper = element("div", "w-table-wrap");
    const table = element("table", "w-table");
    const head = element("thead");
    const body = element("tbody");
    for (const row of children(node)) {
      const rendered = renderNode(row, ctx);
      (row?.header ? head : body).append(rendered);
    }
    if (head.childElementCount) table.append(head);
    table.append(body);
    wrapper.append(table);
    return wrapper;
  },
  "Table.Row"(node, ctx) {
    const el = element("tr", node.header ? "w-table-header" : null);
    for (const cell of children(node)) el.append(renderNode({ ...cell, header: node.header }, ctx));
    return el;
  },
  "Table.Cell"(node, ctx) {
    const el = element(node.header ? "th" : "td", `w-table-cell${node.colSize ? ` w-col-${node.colSize}` : ""}`);
    if (node.colSpan) el.colSpan = node.colSpan;
    if (node.rowSpan) el.rowSpan = node.rowSpan;
    if (node.align) el.style.textAlign = node.align;
    if (node.vAlign) el.style.verticalAlign = { start: "top", center: "middle", end: "bottom" }[node.vAlign] ?? node.vAlign;
    if (node.width !== undefined) el.style.width = length(node.width);
    if (node.padding !== undefined) el.style.padding = spacing(node.padding);
    el.append(...children(node).map((child) => renderNode(child, ctx)));
    return el;
  },
  Chart(node) {
    return element("div", "w-caption w-unsupported", `Chart with ${(node.data ?? []).length} points (not drawn by the playground)`);
  },
};

function status(value) {
  const el = element("div", "w-status", value.text);
  if (value.icon) el.prepend(`${iconGlyph(value.icon)} `);
  return el;
}

export function renderNode(node, ctx) {
  if (!node || typeof node !== "object") return element("span", null, node ?? "");
  const render = RENDERERS[node.type];
  if (render) {
    const el = node.theme ? withScheme(node.theme, () => render(node, ctx)) : render(node, ctx);
    el.dataset.widget = node.type;
    if (node.id) el.dataset.componentId = node.id;
    if (node.theme) el.dataset.colorScheme = node.theme;
    return el;
  }
  const el = element("div", "w-col w-unknown");
  el.dataset.widget = node.type;
  el.append(element("span", "w-caption", node.type), ...children(node).map((child) => renderNode(child, ctx)));
  return el;
}

export function renderWidget(root, ctx) {
  const el = element("div", "widget");
  el.append(renderNode(root, ctx));
  return el;
}

// Streaming updates address components by id; these helpers patch a widget tree in place.

export function findComponent(node, id) {
  if (!node || typeof node !== "object") return null;
  if (node.id === id) return node;
  for (const child of children(node)) {
    const found = findComponent(child, id);
    if (found) return found;
  }
  return null;
}

export function replaceComponent(node, id, replacement) {
  if (!node || typeof node !== "object" || !node.children) return false;
  const list = Array.isArray(node.children) ? node.children : [node.children];
  for (let index = 0; index < list.length; index += 1) {
    if (list[index] && list[index].id === id) {
      if (Array.isArray(node.children)) node.children[index] = replacement;
      else node.children = replacement;
      return true;
    }
    if (replaceComponent(list[index], id, replacement)) return true;
  }
  return false;
}
