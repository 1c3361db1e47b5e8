// The thread list: open, rename in place, delete; a thread shared with the user shows its role instead.
// Titles go in as text; every button is named after its thread, so a screen reader (and a test) can
// tell them apart.

import type { ThreadView } from "../client/index.ts";
import { button } from "./message-view.ts";

export interface ThreadListActions {
  open(threadId: string): void;
  rename(threadId: string, title: string): Promise<void>;
  remove(thread: ThreadView): void;
}

export const titleOf = (thread: ThreadView) => thread.title || "Untitled";

export class ThreadList {
  private current: string | undefined;
  private threads: ThreadView[] = [];
  // The thread being renamed and its form: a redraw while the user types keeps the form as it is.
  private renaming: { threadId: string; form: HTMLFormElement } | undefined;

  constructor(
    private readonly list: HTMLUListElement,
    private readonly actions: ThreadListActions,
  ) {}

  /** Draws the list again; the control that had the focus (a notice may redraw at any time) keeps it. */
  show(threads: ThreadView[]): void {
    this.threads = threads;
    const focused = document.activeElement;
    const item = focused?.closest<HTMLLIElement>("li[data-thread-id]");
    const place = item && this.list.contains(item) ? { threadId: item.dataset.threadId, index: controls(item).indexOf(focused as HTMLElement) } : undefined;
    this.list.replaceChildren(...threads.map((thread) => this.row(thread)));
    if (!place) return;
    const again = [...this.list.children].find((row) => (row as HTMLElement).dataset.threadId === place.threadId);
    if (again) controls(again)[place.index]?.focus();
  }

  /** A listed thread; undefined when the list (the most recent threads) lacks it. */
  find(threadId: string): ThreadView | undefined {
    return this.threads.find((thread) => thread.id === threadId);
  }

  markCurrent(threadId: string | undefined): void {
    this.current = threadId;
    for (const item of this.list.querySelectorAll<HTMLLIElement>("li[data-thread-id]")) {
      const open = item.querySelector("button.open");
      if (item.dataset.threadId === threadId) open?.setAttribute("aria-current", "true");
      else open?.removeAttribute("aria-current");
    }
  }

  private row(thread: ThreadView): HTMLLIElement {
    const item = document.createElement("li");
    item.dataset.threadId = thread.id;
    if (thread.id === this.renaming?.threadId) {
      item.append(this.renaming.form);
      return item;
    }
    const title = titleOf(thread);
    const open = button(item, title, () => this.actions.open(thread.id));
    open.className = "open";
    open.dataset.threadId = thread.id;
    if (thread.id === this.current) open.setAttribute("aria-current", "true");
    if (thread.role === "editor" || thread.role === "viewer") {
      // Shared with this user: naming and deleting it are the owner's.
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = thread.role;
      open.setAttribute("aria-label", `${title}, shared with you as ${thread.role}`);
      item.append(role);
      return item;
    }
    button(item, "Rename", () => this.startRename(thread), `Rename ${title}`).className = "icon";
    button(item, "Delete", () => this.actions.remove(thread), `Delete ${title}`).className = "icon";
    return item;
  }

  private startRename(thread: ThreadView): void {
    this.renaming = { threadId: thread.id, form: this.renameForm(thread) };
    this.show(this.threads);
    this.list.querySelector<HTMLInputElement>("input[name=title]")?.select();
  }

  private renameForm(thread: ThreadView): HTMLFormElement {
    const form = document.createElement("form");
    form.className = "rename";
    const input = document.createElement("input");
    input.name = "title";
    input.value = thread.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", "Thread title");
    // Back to the thread's own button, focused.
    const done = () => {
      this.renaming = undefined;
      this.show(this.threads);
      this.list.querySelector<HTMLButtonElement>(`li[data-thread-id="${CSS.escape(thread.id)}"] button.open`)?.focus();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      // Escape here cancels the rename; it must not also stop a run.
      event.stopPropagation();
      done();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const title = input.value.trim();
      void this.actions.rename(thread.id, title).then(done);
    });
    form.append(input);
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    form.append(save);
    button(form, "Cancel", done);
    return form;
  }
}

/** The controls of a row, in order. */
function controls(row: Element): HTMLElement[] {
  return [...row.querySelectorAll<HTMLElement>("button, input")];
}
