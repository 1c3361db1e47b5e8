// The thread list: open, rename in place, delete. Titles go in as text; every button is named after
// its thread, so a screen reader (and a test) can tell them apart.

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
  // The thread being renamed: a redraw while the user types keeps the form.
  private renaming: string | undefined;

  constructor(
    private readonly list: HTMLUListElement,
    private readonly actions: ThreadListActions,
  ) {}

  show(threads: ThreadView[]): void {
    this.threads = threads;
    this.list.replaceChildren(...threads.map((thread) => this.row(thread)));
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
    if (thread.id === this.renaming) {
      item.append(this.renameForm(thread));
      return item;
    }
    const title = titleOf(thread);
    const open = button(item, title, () => this.actions.open(thread.id));
    open.className = "open";
    open.dataset.threadId = thread.id;
    if (thread.id === this.current) open.setAttribute("aria-current", "true");
    button(item, "Rename", () => this.startRename(thread), `Rename ${title}`).className = "icon";
    button(item, "Delete", () => this.actions.remove(thread), `Delete ${title}`).className = "icon";
    return item;
  }

  private startRename(thread: ThreadView): void {
    this.renaming = thread.id;
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
    const done = (focus: boolean) => {
      this.renaming = undefined;
      this.show(this.threads);
      if (focus) this.list.querySelector<HTMLButtonElement>(`li[data-thread-id="${CSS.escape(thread.id)}"] button.open`)?.focus();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      // Escape here cancels the rename; it must not also stop a run.
      event.stopPropagation();
      done(true);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const title = input.value.trim();
      void this.actions.rename(thread.id, title).then(() => done(true));
    });
    form.append(input);
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    form.append(save);
    button(form, "Cancel", () => done(true));
    return form;
  }
}
