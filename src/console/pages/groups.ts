// Groups: the nesting as a tree (loaded one level at a time from the server), prefix search, and
// a group's page: its place in the tree, members (paginated), grants; create, re-parent, delete.
import { api, ApiFailure, type Page, qs, rememberName } from "../api";
import { debounce, fill, h } from "../dom";
import type { Route } from "../route";
import { confirmDialog, field, Form, humanMessage, input, pager, picker, section, table, toast } from "../ui";
import { type Grant, grantForm, grantTable } from "./grants";

interface TreeNode { id: string; name: string; parent_id: string | null; children: number; members: number }
interface Group { id: string; name: string; parent_id: string | null }

const plural = (n: number, one: string, many = one + "s") => `${n} ${n === 1 ? one : many}`;

function treeLevel(parentId: string | null, selected: string | null): HTMLElement {
  const ul = h("ul", { class: parentId ? "tree-children" : "tree" });
  const more = h("button", { type: "button", class: "btn btn-small btn-link" }, "More…");
  let cursor: string | null = null;
  const load = async () => {
    more.remove();
    try {
      const page = await api<Page<TreeNode>>("GET", "/api/v1/admin/group-tree" + qs({ parent_id: parentId, limit: 100, cursor }));
      for (const n of page.items) ul.appendChild(treeNode(n, selected));
      cursor = page.next_cursor;
      if (cursor) ul.appendChild(h("li", { class: "tree-more" }, more));
      if (!parentId && page.items.length === 0 && !ul.children.length) ul.appendChild(h("li", { class: "muted" }, "No groups yet."));
    } catch (e) {
      ul.appendChild(h("li", { class: "form-error" }, e instanceof ApiFailure ? humanMessage(e) : String(e)));
    }
  };
  more.addEventListener("click", () => {
    more.parentElement?.remove();
    void load();
  });
  void load();
  return ul;
}

function treeNode(n: TreeNode, selected: string | null): HTMLElement {
  rememberName(n.id, n.name);
  const li = h("li", { class: "tree-item" });
  const meta = h("span", { class: "muted tree-meta" }, `${plural(n.members, "member")}${n.children ? " · " + plural(n.children, "subgroup") : ""}`);
  const a = h("a", { href: `#/groups/${encodeURIComponent(n.id)}`, "aria-current": n.id === selected ? "page" : null }, n.name);
  let childUl: HTMLElement | null = null;
  if (n.children > 0) {
    const toggle = h("button", { type: "button", class: "tree-toggle", "aria-expanded": "false", "aria-label": `Show the subgroups of ${n.name}` }, "▸");
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "▾" : "▸";
      toggle.setAttribute("aria-label", `${open ? "Hide" : "Show"} the subgroups of ${n.name}`);
      if (open && !childUl) {
        childUl = treeLevel(n.id, selected);
        li.appendChild(childUl);
      } else if (childUl) childUl.hidden = !open;
    });
    li.append(h("div", { class: "tree-row" }, toggle, a, meta));
  } else {
    li.append(h("div", { class: "tree-row" }, h("span", { class: "tree-leaf", "aria-hidden": "true" }, "•"), a, meta));
  }
  return li;
}

export function groupsPage(main: HTMLElement, r: Route): void {
  const selected = r.path[1] ?? null;
  const search = h("input", { id: "group-q", type: "search", placeholder: "Group name starts with…", autocomplete: "off" });
  const treeBox = h("div", { class: "tree-box" });
  const showTree = () => fill(treeBox, treeLevel(null, selected));
  const results = debounce(async () => {
    const q = search.value.trim();
    if (!q) return showTree();
    try {
      const page = await api<Page<Group>>("GET", "/api/v1/admin/groups" + qs({ q, limit: 50 }));
      fill(treeBox, page.items.length
        ? h("ul", { class: "search-results" }, page.items.map((g) => {
          rememberName(g.id, g.name);
          return h("li", null, h("a", { href: `#/groups/${encodeURIComponent(g.id)}` }, g.name));
        }), page.next_cursor ? h("li", { class: "muted" }, "More match: type more of the name.") : null)
        : h("p", { class: "muted" }, "No group starts with that."));
    } catch (e) {
      fill(treeBox, h("p", { class: "form-error" }, e instanceof ApiFailure ? humanMessage(e) : String(e)));
    }
  }, 200);
  search.addEventListener("input", results);
  showTree();

  const name = input("name", { required: true });
  const parent = picker("Parent group", "parent_id", "groups", { hint: "Optional: members of the new group are also members of its parent." });
  const create = new Form({
    label: "New group", submit: "Create group",
    action: async (f) => {
      if (!name.value.trim()) return void f.fieldError("name", "Enter a name");
      const body: Record<string, unknown> = { name: name.value.trim() };
      if (parent.value()) body.parent_id = parent.value();
      const g = await api<Group & { revision: number }>("POST", "/api/v1/admin/groups", body);
      toast(`Group ${g.name} created (revision ${g.revision}).`);
      location.hash = `#/groups/${encodeURIComponent(g.id)}`;
    },
  });
  create.add(field("Name", name), parent);

  const detail = h("div", { class: "group-detail" });
  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Groups"),
      h("p", { class: "muted" }, "Groups nest: a member of a subgroup is a member of every group above it, and gets their grants.")),
    h("div", { class: "grid-sidebar" },
      section("Tree", h("div", { class: "toolbar" }, h("div", { class: "field inline grow" }, h("label", { htmlFor: "group-q" }, "Search"), search)), treeBox,
        h("details", { class: "create" }, h("summary", null, "New group"), create.el)),
      detail));
  if (selected) groupDetail(detail, selected);
  else fill(detail, section("Pick a group", h("p", { class: "muted" }, "Choose a group in the tree to see its members and grants.")));
}

async function ancestors(g: Group): Promise<Group[]> {
  const out: Group[] = [];
  const seen = new Set([g.id]);
  for (let p = g.parent_id; p && !seen.has(p) && out.length < 20;) {
    seen.add(p);
    const x = await api<Group>("GET", `/api/v1/admin/groups/${encodeURIComponent(p)}`);
    out.unshift(x);
    p = x.parent_id;
  }
  return out;
}

function groupDetail(box: HTMLElement, id: string): void {
  fill(box, section("Group", h("p", { class: "muted" }, "Loading…")));
  api<Group>("GET", `/api/v1/admin/groups/${encodeURIComponent(id)}`).then(async (g) => {
    rememberName(g.id, g.name);
    const path = await ancestors(g).catch(() => [] as Group[]);

    const name = input("name", { value: g.name });
    const parent = picker("Parent group", "parent_id", "groups", { hint: "Clear the text to make it a top-level group." });
    if (g.parent_id) parent.set(g.parent_id, path[path.length - 1]?.name ?? g.parent_id);
    const edit = new Form({
      label: "Edit group", submit: "Save",
      action: async () => {
        const body: Record<string, unknown> = {};
        if (name.value.trim() !== g.name) body.name = name.value.trim();
        const p = parent.value();
        if (p !== g.parent_id) body.parent_id = p;
        if (!Object.keys(body).length) return void toast("Nothing to save.");
        const res = await api<Group & { revision: number }>("PATCH", `/api/v1/admin/groups/${encodeURIComponent(g.id)}`, body);
        toast(`Saved ${res.name} (revision ${res.revision}).`);
        location.hash = `#/groups/${encodeURIComponent(g.id)}?v=${res.revision}`;
      },
      secondary: h("button", { type: "button", class: "btn btn-danger", onclick: () => void del() }, "Delete group"),
    });
    edit.add(field("Name", name), parent);
    const del = async () => {
      const ok = await confirmDialog({ title: `Delete ${g.name}?`, body: h("p", null, "Its memberships and grants are deleted with it; its subgroups move to the top level."), confirm: "Delete group", danger: true });
      if (!ok) return;
      try {
        const res = await api<{ revision: number }>("DELETE", `/api/v1/admin/groups/${encodeURIComponent(g.id)}`);
        toast(`Deleted ${g.name} (revision ${res.revision}).`);
        location.hash = "#/groups";
      } catch (e) {
        toast("Could not delete: " + (e instanceof ApiFailure ? humanMessage(e) : e), "error");
      }
    };

    const membersBox = h("div");
    const members = pager<{ user_id: string; username: string; created_at: string }>(
      (cursor) => api("GET", `/api/v1/admin/groups/${encodeURIComponent(g.id)}/members` + qs({ limit: 25, cursor })),
      (items) => fill(membersBox, table(["Member", ""], items.map((m) => {
        rememberName(m.user_id, m.username);
        return [
          h("a", { href: `#/users/${encodeURIComponent(m.user_id)}` }, m.username),
          h("button", { type: "button", class: "btn btn-small", "aria-label": `Remove ${m.username}`, onclick: () => void remove(m) }, "Remove"),
        ];
      }), { empty: "No direct members.", class: "members" })),
      "Member pages");
    const remove = async (m: { user_id: string; username: string }) => {
      try {
        const res = await api<{ revision: number }>("DELETE", `/api/v1/admin/groups/${encodeURIComponent(g.id)}/members/${encodeURIComponent(m.user_id)}`);
        toast(`${m.username} removed (revision ${res.revision}).`);
        void members.refresh();
      } catch (e) {
        toast("Could not remove: " + (e instanceof ApiFailure ? humanMessage(e) : e), "error");
      }
    };
    const user = picker("Add member", "user_id", "users");
    const add = new Form({
      label: "Add a member", submit: "Add member", class: "inline-form",
      action: async (f) => {
        const uid = user.value();
        if (!uid) return void f.fieldError("user_id", "Pick a user from the list");
        const res = await api<{ revision: number }>("POST", `/api/v1/admin/groups/${encodeURIComponent(g.id)}/members`, { user_id: uid });
        toast(`Added (revision ${res.revision}).`);
        user.set(null);
        void members.reload();
      },
    });
    add.add(user);

    const grantsBox = h("div");
    const grants = pager<Grant>(
      (cursor) => api<Page<Grant>>("GET", "/api/v1/admin/grants" + qs({ group_id: g.id, limit: 20, cursor })),
      (items) => fill(grantsBox, grantTable(items, () => void grants.refresh(), { subject: false })),
      "Grant pages");

    fill(box,
      h("section", { class: "card", "aria-labelledby": "group-h" },
        h("h2", { id: "group-h" }, g.name),
        h("p", { class: "crumbs" }, path.length
          ? ["Inside ", path.map((p, i) => [i ? " → " : "", h("a", { href: `#/groups/${encodeURIComponent(p.id)}` }, p.name)])]
          : "A top-level group"),
        edit.el),
      section("Members", membersBox, members.el, add.el),
      section("Grants of this group", grantsBox, grants.el,
        h("details", { class: "create" }, h("summary", null, "Add a grant"), grantForm({ subject: { group_id: g.id }, onDone: () => void grants.reload() }))));
    void members.reload();
    void grants.reload();
  }, (e) => fill(box, section("Group", h("p", { class: "form-error", role: "alert" }, e instanceof ApiFailure ? humanMessage(e) : String(e)))));
}
