// Shared widgets: fields with their errors, forms that put API errors next to the field that
// caused them, a search-as-you-type picker (ARIA combobox), cursor pagination, toasts, a confirm
// dialog and badges.
import { api, ApiFailure, type Page, qs, rememberName } from "./api";
import { type Attrs, type Child, debounce, fill, h, uid } from "./dom";

// ---- toasts ---------------------------------------------------------------------------------

export function toast(message: string, kind: "ok" | "error" = "ok"): void {
  const region = document.getElementById(kind === "error" ? "toasts-alert" : "toasts")!;
  const el = h("div", { class: `toast toast-${kind}` }, message,
    h("button", { type: "button", class: "toast-x", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  region.appendChild(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

// ---- confirm dialog -------------------------------------------------------------------------

export function confirmDialog(o: { title: string; body: Child; confirm: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
    const ok = h("button", { type: "button", class: o.danger ? "btn btn-danger" : "btn btn-primary" }, o.confirm);
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, o.title),
      h("div", { class: "dialog-body" }, o.body),
      h("div", { class: "actions" }, cancel, ok));
    let answered = false;
    const done = (v: boolean) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dlg.addEventListener("cancel", () => done(false)); // Escape
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus(); // the safe choice has the focus
  });
}

// ---- fields and forms -----------------------------------------------------------------------

export interface Field {
  el: HTMLElement;
  control: HTMLElement;
  name: string;
  error: HTMLElement;
}

/** A labelled control with a hint and an error slot wired up for screen readers. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | HTMLElement, o: { name?: string; hint?: string; class?: string } = {}): Field {
  const id = control.id || uid("f");
  control.id = id;
  const name = o.name ?? control.getAttribute("name") ?? id;
  const hintId = uid("hint"), errId = uid("err");
  const error = h("p", { class: "field-error", id: errId, hidden: true });
  const described = [o.hint ? hintId : null, errId].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  const el = h("div", { class: "field " + (o.class ?? ""), dataset: { field: name } },
    h("label", { htmlFor: id }, label),
    control,
    o.hint ? h("p", { class: "hint", id: hintId }, o.hint) : null,
    error);
  return { el, control, name, error };
}

export function input(name: string, attrs: Attrs = {}): HTMLInputElement {
  return h("input", { name, type: "text", autocomplete: "off", ...attrs });
}

export function select(name: string, options: Array<[string, string]>, value?: string, attrs: Attrs = {}): HTMLSelectElement {
  return h("select", { name, ...attrs }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

/**
 * A form whose submit runs `action`; an ApiFailure is shown next to the field it names
 * (details.field, or its closest named parent), else above the buttons.
 */
export class Form {
  readonly el: HTMLFormElement;
  private readonly fields = new Map<string, Field>();
  private readonly alert: HTMLElement;
  private readonly submit: HTMLButtonElement;

  constructor(o: { label: string; submit: string; class?: string; action: (f: Form) => Promise<void>; secondary?: Child }) {
    this.alert = h("div", { class: "form-error", role: "alert", hidden: true });
    this.submit = h("button", { type: "submit", class: "btn btn-primary" }, o.submit);
    this.el = h("form", { class: "form " + (o.class ?? ""), "aria-label": o.label, novalidate: true });
    this.el.append(h("div", { class: "form-fields" }), this.alert, h("div", { class: "actions" }, this.submit, o.secondary ?? null));
    this.el.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      this.clearErrors();
      this.submit.disabled = true;
      this.el.setAttribute("aria-busy", "true");
      try {
        await o.action(this);
      } catch (e) {
        this.showError(e);
      } finally {
        this.submit.disabled = false;
        this.el.removeAttribute("aria-busy");
      }
    });
  }

  get body(): HTMLElement {
    return this.el.firstElementChild as HTMLElement;
  }

  add(...items: Array<Field | HTMLElement | null>): this {
    for (const f of items) {
      if (!f) continue;
      if (f instanceof HTMLElement) this.body.appendChild(f);
      else {
        this.fields.set(f.name, f);
        this.body.appendChild(f.el);
      }
    }
    return this;
  }

  /** Registers a field that lives elsewhere in the form (e.g. inside a fieldset). */
  register(f: Field): Field {
    this.fields.set(f.name, f);
    return f;
  }

  clearErrors(): void {
    this.alert.hidden = true;
    this.alert.textContent = "";
    for (const f of this.fields.values()) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.control.removeAttribute("aria-invalid");
      f.el.classList.remove("has-error");
    }
  }

  fieldError(name: string, message: string): boolean {
    // "windows[0].start" → "windows[0].start", "windows[0]", "windows"; "subject.user_id" → "subject".
    for (let n: string | null = name; n; n = parentPath(n)) {
      const f = this.fields.get(n);
      if (f) {
        f.error.textContent = message;
        f.error.hidden = false;
        f.control.setAttribute("aria-invalid", "true");
        f.el.classList.add("has-error");
        const focusable = f.control.matches("input,select,textarea,button") ? f.control : f.control.querySelector<HTMLElement>("input,select,textarea,button");
        focusable?.focus();
        return true;
      }
    }
    return false;
  }

  showError(e: unknown): void {
    if (e instanceof ApiFailure) {
      const msg = humanMessage(e);
      if (e.field && this.fieldError(e.field, msg)) return;
      this.alert.textContent = msg;
    } else {
      this.alert.textContent = String((e as Error)?.message ?? e);
    }
    this.alert.hidden = false;
  }
}

function parentPath(n: string): string | null {
  const m = /^(.*)(\.[^.[\]]+|\[\d+\])$/.exec(n);
  return m ? m[1]! : null;
}

/** The API's message without its "field: " prefix (the field is shown by position). */
export function humanMessage(e: ApiFailure): string {
  let m = e.message;
  if (e.field && m.startsWith(e.field + ": ")) m = m.slice(e.field.length + 2);
  return m.charAt(0).toUpperCase() + m.slice(1);
}

// ---- picker (search as you type, on the server) ---------------------------------------------

export type Collection = "users" | "groups" | "gates" | "zones" | "schedules";

const DISPLAY: Record<Collection, (x: any) => string> = {
  users: (u) => (u.display_name ? `${u.username} — ${u.display_name}` : u.username),
  groups: (g) => g.name,
  gates: (g) => `${g.id} — ${g.name}`,
  zones: (z) => z.name,
  schedules: (s) => `${s.name} (${s.timezone})`,
};
const SHORT: Record<Collection, (x: any) => string> = {
  users: (u) => u.username, groups: (g) => g.name, gates: (g) => g.id, zones: (z) => z.name, schedules: (s) => s.name,
};

export interface Picker extends Field {
  value(): string | null;
  set(id: string | null, label?: string): void;
  onChange(fn: (id: string | null, item: any) => void): void;
}

/** A combobox that searches `collection` by prefix (`?q=`) on the server, 8 results at a time. */
export function picker(label: string, name: string, collection: Collection, o: { hint?: string; placeholder?: string } = {}): Picker {
  const listId = uid("lb");
  const inp = input(name, {
    role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId,
    placeholder: o.placeholder ?? `Search ${collection}…`, spellcheck: "false",
  });
  const list = h("ul", { class: "listbox", role: "listbox", id: listId, hidden: true, "aria-label": `${label} results` });
  const wrap = h("div", { class: "picker" }, inp, list);
  const f = field(label, wrap, { name, hint: o.hint ?? "Type the start of a name, then pick from the list." });
  // field() labels the wrapper; the label must point at the input.
  inp.id = uid("pick");
  f.el.querySelector("label")!.htmlFor = inp.id;
  inp.setAttribute("aria-describedby", wrap.getAttribute("aria-describedby") ?? "");
  wrap.removeAttribute("aria-describedby");
  let chosen: string | null = null;
  let items: any[] = [];
  let active = -1;
  let listeners: Array<(id: string | null, item: any) => void> = [];
  let seq = 0;

  const close = () => {
    list.hidden = true;
    inp.setAttribute("aria-expanded", "false");
    inp.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const pick = (i: number) => {
    const item = items[i];
    if (!item) return;
    chosen = item.id;
    rememberName(item.id, SHORT[collection](item));
    inp.value = DISPLAY[collection](item);
    inp.dataset.picked = item.id;
    close();
    for (const l of listeners) l(chosen, item);
  };
  const highlight = (i: number) => {
    active = i;
    list.querySelectorAll("[role=option]").forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    const li = list.children[i] as HTMLElement | undefined;
    if (li) {
      inp.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    }
  };
  const search = debounce(async () => {
    const q = inp.value.trim();
    const mine = ++seq;
    try {
      const page = await api<Page<any>>("GET", `/api/v1/admin/${collection}` + qs({ q, limit: 8 }));
      if (mine !== seq) return;
      items = page.items;
      fill(list, items.length
        ? items.map((it, i) => h("li", {
          role: "option", id: `${listId}-${i}`, "aria-selected": "false", class: "option",
          onmousedown: (ev: MouseEvent) => ev.preventDefault(), onclick: () => pick(i),
        }, DISPLAY[collection](it)))
        : h("li", { class: "option empty", "aria-disabled": "true" }, q ? `No ${collection} starting with “${q}”` : `No ${collection} yet`));
      list.hidden = false;
      inp.setAttribute("aria-expanded", "true");
      active = -1;
    } catch (e) {
      if (mine !== seq) return;
      fill(list, h("li", { class: "option empty" }, e instanceof ApiFailure ? humanMessage(e) : "Search failed"));
      list.hidden = false;
    }
  }, 180);

  inp.addEventListener("input", () => {
    if (chosen !== null) {
      chosen = null;
      delete inp.dataset.picked;
      for (const l of listeners) l(null, null);
    }
    search();
  });
  inp.addEventListener("focus", () => {
    if (chosen === null) search();
  });
  inp.addEventListener("blur", () => setTimeout(close, 120));
  inp.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") {
      ev.preventDefault();
      if (list.hidden) search();
      else highlight(Math.min(items.length - 1, active + 1));
    } else if (ev.key === "ArrowUp") {
      ev.preventDefault();
      highlight(Math.max(0, active - 1));
    } else if (ev.key === "Enter") {
      if (!list.hidden && active >= 0) {
        ev.preventDefault();
        pick(active);
      } else if (!list.hidden && items.length === 1) {
        ev.preventDefault();
        pick(0);
      }
    } else if (ev.key === "Escape" && !list.hidden) {
      ev.preventDefault();
      close();
    }
  });

  return {
    ...f,
    control: inp,
    value: () => chosen,
    set(id, text) {
      chosen = id;
      inp.value = id ? text ?? id : "";
      if (id) inp.dataset.picked = id;
      else delete inp.dataset.picked;
    },
    onChange(fn) {
      listeners.push(fn);
    },
  };
}

// ---- pagination -----------------------------------------------------------------------------

/**
 * Cursor pagination: Previous/Next over a server list; `load(cursor)` fetches a page, `render`
 * shows its items. Never more than one page in memory.
 */
export function pager<T>(load: (cursor: string | null) => Promise<Page<T>>, render: (items: T[]) => void, label = "Pages") {
  const stack: Array<string | null> = [null];
  const prev = h("button", { type: "button", class: "btn btn-small" }, "← Previous");
  const next = h("button", { type: "button", class: "btn btn-small" }, "Next →");
  const status = h("span", { class: "muted", "aria-live": "polite" });
  const el = h("nav", { class: "pager", "aria-label": label }, prev, status, next);
  let nextCursor: string | null = null;
  let seq = 0;
  const show = async () => {
    const mine = ++seq;
    status.textContent = "Loading…";
    try {
      const page = await load(stack[stack.length - 1]!);
      if (mine !== seq) return;
      nextCursor = page.next_cursor;
      render(page.items);
      status.textContent = `Page ${stack.length}${page.items.length === 0 ? " — nothing here" : ""}`;
    } catch (e) {
      if (mine !== seq) return;
      status.textContent = e instanceof ApiFailure ? humanMessage(e) : "Loading failed";
      render([]);
    }
    prev.disabled = stack.length <= 1;
    next.disabled = nextCursor === null;
  };
  prev.addEventListener("click", () => {
    if (stack.length > 1) stack.pop();
    void show();
  });
  next.addEventListener("click", () => {
    if (nextCursor) stack.push(nextCursor);
    void show();
  });
  return {
    el,
    /** Back to the first page (after a search or a write). */
    reload: () => {
      stack.length = 1;
      return show();
    },
    refresh: () => show(),
  };
}

// ---- bits -----------------------------------------------------------------------------------

export function badge(text: string, kind: string): HTMLElement {
  return h("span", { class: `badge badge-${kind}` }, text);
}

export function decisionBadge(allow: boolean): HTMLElement {
  return badge(allow ? "ALLOW" : "DENY", allow ? "allow" : "deny");
}

export function modeBadge(mode: string): HTMLElement {
  return badge(mode, mode === "normal" ? "ok" : mode === "locked" ? "warn" : "off");
}

export function table(headers: string[], rows: Child[][], o: { caption?: string; empty?: string; class?: string } = {}): HTMLElement {
  return h("div", { class: "table-wrap" },
    h("table", { class: o.class ?? "" },
      o.caption ? h("caption", null, o.caption) : null,
      h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", null, rows.length
        ? rows.map((r) => h("tr", null, r.map((c) => h("td", null, c))))
        : h("tr", null, h("td", { colspan: headers.length, class: "empty" }, o.empty ?? "Nothing to show")))));
}

export function section(title: string, ...children: Child[]): HTMLElement {
  const id = uid("sec");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

export function link(href: string, text: Child, attrs: Attrs = {}): HTMLAnchorElement {
  return h("a", { href, ...attrs }, text);
}

/** Copies text; the button says it did (or tells how to copy by hand). */
export async function copyText(text: string, button: HTMLButtonElement, fallbackInput?: HTMLInputElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied ✓";
  } catch {
    fallbackInput?.select();
    const ok = document.execCommand?.("copy");
    button.textContent = ok ? "Copied ✓" : "Press Ctrl+C to copy";
  }
  setTimeout(() => (button.textContent = "Copy"), 2500);
}
