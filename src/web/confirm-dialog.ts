// The page's one yes/no question, in a <dialog>: the safe answer is focused first, and Escape gives it.

export interface Question {
  title: string;
  text: string;
  /** The button that answers yes, e.g. "Delete". */
  confirm: string;
  /** The safe answer, e.g. "Cancel". */
  cancel: string;
  /** The yes button warns (it destroys something). */
  danger?: boolean;
}

/**
 * Asks `question` in `dialog` and resolves true only for its `[data-role=confirm]` button; its
 * `[data-role=cancel]` button, Escape or any other close resolve false.
 */
export function ask(dialog: HTMLDialogElement, question: Question): Promise<boolean> {
  const part = <T extends HTMLElement>(role: string) => dialog.querySelector<T>(`[data-role=${role}]`)!;
  const cancel = part<HTMLButtonElement>("cancel");
  const confirm = part<HTMLButtonElement>("confirm");
  part("title").textContent = question.title;
  part("text").textContent = question.text;
  cancel.textContent = question.cancel;
  confirm.textContent = question.confirm;
  confirm.classList.toggle("danger", question.danger === true);
  return new Promise((resolve) => {
    const answer = (yes: boolean) => {
      cancel.removeEventListener("click", onCancel);
      confirm.removeEventListener("click", onConfirm);
      dialog.removeEventListener("close", onClose);
      dialog.close();
      resolve(yes);
    };
    const onCancel = () => answer(false);
    const onConfirm = () => answer(true);
    const onClose = () => answer(false);
    cancel.addEventListener("click", onCancel);
    confirm.addEventListener("click", onConfirm);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    cancel.focus();
  });
}
