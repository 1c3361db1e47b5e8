// The chat page and its bundled script and stylesheet as static routes that carry the page's
// security headers (docs/protocol.md section 9.5).

import type { HTMLBundle } from "bun";
import { basename } from "node:path";

/**
 * No inline script or style, nothing from elsewhere: the page talks only to its own origin, over
 * fetch and WebSocket ('self' covers ws: and wss: on the same host and port in CSP Level 3).
 * No framing (clickjacking), no plugins, no <base> rewriting, no form posts (the forms are handled
 * in script; without it, a submit would put the token in the URL).
 */
export const CHAT_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
  "base-uri 'none'",
].join("; ");

const EVERY_FILE = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" };
const PAGE_HEADERS = { ...EVERY_FILE, "content-security-policy": CHAT_PAGE_CSP, "x-frame-options": "DENY", "cache-control": "no-cache" };
// Bundled files are named after their content hash, so they never change under the same name.
const ASSET_HEADERS = { ...EVERY_FILE, "cache-control": "public, max-age=31536000, immutable" };

interface PageFile {
  /** URL path the HTML refers to it by: `/` for the page itself. */
  path: string;
  body: ArrayBuffer;
  contentType: string;
  etag: string;
}

/**
 * Routes for `Bun.serve`'s `routes`. Given as a route value, an HTML import is served by Bun with
 * its own headers and no way to add any, so the page is served from the same bundle here: the
 * files embedded at build time in the compiled binary, or a bundle built once at start-up when
 * running from source.
 */
export async function chatPageRoutes(bundle: HTMLBundle): Promise<Record<string, Response>> {
  const files = bundle.files ? await embeddedFiles(bundle.files) : await buildFiles(bundle.index);
  const routes: Record<string, Response> = {};
  for (const file of files) {
    const headers = { ...(file.path === "/" ? PAGE_HEADERS : ASSET_HEADERS), "content-type": file.contentType, etag: `"${file.etag}"` };
    routes[file.path] = new Response(file.body, { headers });
  }
  if (!routes["/"]) throw new Error(`the chat page bundle has no HTML file (${bundle.index})`);
  return routes;
}

async function embeddedFiles(files: NonNullable<HTMLBundle["files"]>): Promise<PageFile[]> {
  return Promise.all(
    files.map(async (file) => ({
      // The bundled HTML links its script and stylesheet from the root by file name.
      path: file.loader === "html" ? "/" : `/${basename(file.path)}`,
      body: await Bun.file(file.path).arrayBuffer(),
      contentType: file.headers["content-type"],
      etag: file.headers.etag,
    })),
  );
}

async function buildFiles(htmlPath: string): Promise<PageFile[]> {
  const result = await Bun.build({ entrypoints: [htmlPath], target: "browser", minify: true, publicPath: "/" });
  if (!result.success) throw new AggregateError(result.logs, `could not bundle the chat page ${htmlPath}`);
  return Promise.all(
    result.outputs.map(async (output) => {
      const body = await output.arrayBuffer();
      const path = output.type.startsWith("text/html") ? "/" : `/${basename(output.path)}`;
      return { path, body, contentType: output.type, etag: output.hash ?? Bun.hash(body).toString(36) };
    }),
  );
}
