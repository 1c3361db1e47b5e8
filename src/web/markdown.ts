// Model output as Markdown: parsed by marked, sanitised by DOMPurify, rendered while it streams
// without parsing the whole answer again on every delta.
//
// Safety in three layers: raw HTML in the Markdown is shown as text (never parsed), the HTML marked
// makes goes through DOMPurify with a short list of tags and attributes, and links keep only http(s)
// targets. Images become links: the page's CSP loads no image from elsewhere.

import DOMPurify from "dompurify";
import { Marked, type Token, type Tokens } from "marked";

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (character) => escapes[character]!);
const LANGUAGE = /^[\w+#.-]{1,32}$/;
const WEB_LINK = /^https?:\/\//i;

const marked = new Marked({
  gfm: true,
  renderer: {
    html({ text, block }: Tokens.HTML | Tokens.Tag) {
      return block ? `<p>${escapeHtml(text.trim())}</p>` : escapeHtml(text);
    },
    image({ href, text }: Tokens.Image) {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
    checkbox({ checked }: Tokens.Checkbox) {
      return checked ? "☑ " : "☐ ";
    },
    code({ text, lang, escaped }: Tokens.Code) {
      const language = lang?.trim().split(/\s+/)[0] ?? "";
      const label = LANGUAGE.test(language) ? ` data-lang="${escapeHtml(language)}"` : "";
      return `<pre${label}><code>${escaped ? text : escapeHtml(text)}</code></pre>`;
    },
  },
});

const purify = DOMPurify(window);
const SANITIZE = {
  ALLOWED_TAGS: ["p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a"],
  ALLOWED_ATTR: ["href", "title", "align", "start", "data-lang"],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true as const,
};
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName !== "A") return;
  const href = node.getAttribute("href") ?? "";
  if (WEB_LINK.test(href)) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  } else {
    // Any other target (javascript:, data:, a path of this page) stays as its text.
    node.removeAttribute("href");
  }
});

/** Safe DOM for Markdown tokens: sanitised, code blocks given a language label and a copy button. */
function fragmentOf(tokens: Token[]): DocumentFragment {
  const fragment = purify.sanitize(marked.parser(tokens), SANITIZE);
  for (const node of [...fragment.childNodes]) {
    // marked puts a newline between blocks; as text it would only join them in textContent.
    if (node.nodeType === Node.TEXT_NODE && node.textContent!.trim() === "") node.remove();
  }
  for (const pre of fragment.querySelectorAll("pre")) decorateCode(pre);
  for (const link of fragment.querySelectorAll("a:not([href])")) link.replaceWith(...link.childNodes);
  return fragment;
}

function decorateCode(pre: HTMLPreElement): void {
  const figure = document.createElement("figure");
  figure.className = "code";
  const caption = document.createElement("figcaption");
  const label = document.createElement("span");
  label.className = "language";
  label.textContent = pre.dataset.lang ?? "text";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-code";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy ${label.textContent} code`);
  caption.append(label, copy);
  pre.replaceWith(figure);
  figure.append(caption, pre);
}

/** Renders a whole Markdown text at once. */
export function renderMarkdown(source: string): DocumentFragment {
  return fragmentOf(marked.lexer(source));
}

/**
 * Copies a code block when its copy button is pressed: one listener for every message, as the
 * blocks are rebuilt while they stream.
 */
export function handleCopyClicks(root: HTMLElement): void {
  root.addEventListener("click", (event) => {
    const button = (event.target as Element).closest?.("button.copy-code");
    const code = button?.closest("figure.code")?.querySelector("pre");
    if (!button || !code) return;
    // Without a secure context (plain http on another host than localhost) there is no clipboard API:
    // the code is selected for the reader to copy.
    const copied = navigator.clipboard?.writeText(code.textContent ?? "") ?? Promise.reject(new Error("no clipboard"));
    copied.then(
      () => (button.textContent = "Copied"),
      () => {
        getSelection()?.selectAllChildren(code);
        button.textContent = "Selected: press Ctrl+C";
      },
    );
  });
}

// Blocks kept open at the end of a streaming text: a block is only known to be complete once the next
// one has started, and a list or a paragraph may still take in the one after it.
const OPEN_BLOCKS = 2;
// A reference-style link definition (`[id]: url`): it may give a meaning to links in blocks kept before it.
const LINK_DEFINITION = /^ {0,3}\[[^\]]+\]:/m;
// Characters of kept blocks per group that the browser may skip while off screen.
const GROUP_CHARS = 4000;

/**
 * A Markdown text that grows at its end, as an answer streams. The blocks that can no longer change
 * are rendered once and kept; each update lexes and renders only the blocks after them, so the cost of
 * an update depends on the length of the last blocks, not of the whole answer. Kept blocks go in
 * groups the browser may skip laying out and painting while they are off screen.
 */
export class MarkdownStream {
  readonly element: HTMLDivElement;
  private readonly done = document.createElement("div");
  private readonly open = document.createElement("div");
  private text = "";
  /** How much of `text` the kept blocks cover. */
  private kept = 0;
  /** How much of it the last group of kept blocks holds. */
  private groupLength = 0;
  private scheduled = 0;
  private finished = false;

  constructor(className: string) {
    this.element = document.createElement("div");
    this.element.className = className;
    this.element.append(this.done, this.open);
  }

  /** Shows `text`: at the next frame while it streams; at once, with its last blocks closed, when `final`. */
  update(text: string, final: boolean): void {
    if (text === this.text && final === this.finished) return;
    const grows = !this.finished && text.startsWith(this.text);
    this.text = text;
    if (!grows || (final && LINK_DEFINITION.test(text))) this.restart();
    this.finished = final;
    if (final) {
      cancelAnimationFrame(this.scheduled);
      this.render(true);
    } else if (this.scheduled === 0) {
      this.scheduled = requestAnimationFrame(() => this.render(false));
    }
  }

  /** Renders the whole text again from its start (it changed, or a late definition may change early blocks). */
  private restart(): void {
    this.kept = 0;
    this.done.replaceChildren();
    this.open.replaceChildren();
  }

  private render(final: boolean): void {
    this.scheduled = 0;
    const rest = this.text.slice(this.kept);
    const tokens = marked.lexer(rest);
    let split = tokens.length;
    for (let openBlocks = 0; !final && split > 0 && openBlocks < OPEN_BLOCKS; ) if (tokens[--split]!.type !== "space") openBlocks++;
    const complete = tokens.slice(0, split);
    const length = complete.reduce((sum, token) => sum + token.raw.length, 0);
    // The lexer normalises line ends; where its tokens do not spell the text exactly, nothing is kept.
    if (!final && length > 0 && complete.map((token) => token.raw).join("") === rest.slice(0, length)) {
      // Few groups, each of a good size: the browser watches every one for coming into view.
      let group = this.done.lastElementChild;
      if (!group || this.groupLength > GROUP_CHARS) {
        group = this.done.appendChild(document.createElement("div"));
        group.className = "blocks";
        this.groupLength = 0;
      }
      group.append(fragmentOf(complete));
      this.groupLength += length;
      this.kept += length;
      this.open.replaceChildren(fragmentOf(tokens.slice(split)));
    } else {
      this.open.replaceChildren(fragmentOf(tokens));
    }
  }
}
