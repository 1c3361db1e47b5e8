// The owner's Share dialog (docs/protocol.md section 14.6): the thread's members with their roles, a
// role changed or a member removed in place, a user added by name. Names go in as text.

import type { MemberRole, MemberView, ThreadsApi } from "../client/index.ts";
import { button } from "./message-view.ts";

const ROLES: MemberRole[] = ["viewer", "editor"];

export class ShareDialog {
  private threadId: string | undefined;
  private opener: HTMLElement | undefined;
  private readonly members: HTMLUListElement;
  private readonly user: HTMLInputElement;
  private readonly role: HTMLSelectElement;
  private readonly error: HTMLParagraphElement;

  constructor(
    private readonly dialog: HTMLDialogElement,
    private readonly threads: () => ThreadsApi | undefined,
  ) {
    this.members = this.part("members");
    this.user = this.part("user");
    this.role = this.part("role");
    this.error = this.part("error");
    this.part("add").addEventListener("submit", (event) => {
      event.preventDefault();
      const user = this.user.value.trim();
      if (!user) return;
      void this.change(`Could not share with ${user}`, (api, id) => api.setMember(id, user, this.role.value as MemberRole)).then((done) => {
        if (done) this.user.value = "";
        this.user.focus();
      });
    });
    this.part<HTMLButtonElement>("close").addEventListener("click", () => dialog.close());
    // However it closes (Close, Escape), the focus goes back to the Share button.
    dialog.addEventListener("close", () => {
      this.threadId = undefined;
      this.opener?.focus();
    });
  }

  private part<T extends HTMLElement>(role: string): T {
    return this.dialog.querySelector<T>(`[data-role=${role}]`)!;
  }

  /** Opens the dialog for the thread, its members read afresh. */
  async open(threadId: string, title: string, opener: HTMLElement): Promise<void> {
    this.threadId = threadId;
    this.opener = opener;
    this.part("title").textContent = `Share “${title}”`;
    this.say("");
    this.members.replaceChildren();
    this.dialog.showModal();
    this.user.focus();
    await this.reload();
  }

  /** Runs one change of the members, then shows them as stored; false when it failed (the error is shown). */
  private async change(failure: string, work: (api: ThreadsApi, threadId: string) => Promise<unknown>): Promise<boolean> {
    const api = this.threads();
    const id = this.threadId;
    if (!api || !id) return false;
    try {
      await work(api, id);
      this.say("");
      return true;
    } catch (error) {
      this.say(`${failure}: ${(error as Error).message}`);
      return false;
    } finally {
      await this.reload();
    }
  }

  private async reload(): Promise<void> {
    const api = this.threads();
    const id = this.threadId;
    if (!api || !id) return;
    try {
      const members = await api.members(id);
      if (id === this.threadId) this.show(members);
    } catch (error) {
      if (id === this.threadId) this.say(`Could not read the members: ${(error as Error).message}`);
    }
  }

  private show(members: MemberView[]): void {
    // A redraw keeps the focus on the same member's control.
    const focused = document.activeElement as HTMLElement | null;
    const place = focused && this.members.contains(focused) ? { user: focused.closest<HTMLElement>("li")?.dataset.user, tag: focused.tagName } : undefined;
    this.members.replaceChildren(...members.map((member) => this.row(member)));
    if (members.length === 0) {
      const empty = document.createElement("li");
      empty.textContent = "Not shared with anyone yet.";
      this.members.append(empty);
    }
    if (!place) return;
    const row = [...this.members.children].find((item) => (item as HTMLElement).dataset.user === place.user);
    (row?.querySelector<HTMLElement>(place.tag) ?? this.user).focus();
  }

  private row(member: MemberView): HTMLLIElement {
    const item = document.createElement("li");
    item.dataset.user = member.user;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = member.user;
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Role of ${member.user}`);
    for (const role of ROLES) select.append(new Option(role, role, role === member.role, role === member.role));
    select.addEventListener("change", () => void this.change(`Could not change ${member.user}'s role`, (api, id) => api.setMember(id, member.user, select.value as MemberRole)));
    item.append(name, select);
    button(item, "Remove", () => void this.change(`Could not remove ${member.user}`, (api, id) => api.removeMember(id, member.user)), `Remove ${member.user}`);
    return item;
  }

  private say(text: string): void {
    this.error.textContent = text;
    this.error.hidden = text === "";
  }
}
