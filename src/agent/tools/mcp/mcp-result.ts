// What the model is told of an MCP tool result: its text content, with a word for what is not text.

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CUT_META } from "./bounded-lines.ts";

/** The result's content as one text; `cut` when the transport kept only its opening (bounded-read-buffer.ts). */
export function resultText(result: CallToolResult): { text: string; cutFromBytes?: number } {
  const parts = (result.content ?? []).map((block): string => {
    switch (block.type) {
      case "text":
        return block.text;
      case "image":
      case "audio":
        return `[${block.type} ${block.mimeType}, ${Math.floor((block.data.length * 3) / 4)} bytes, not shown]`;
      case "resource":
        return "text" in block.resource ? block.resource.text : `[resource ${block.resource.uri}, ${block.resource.mimeType ?? "binary"}, not shown]`;
      case "resource_link":
        return `[resource ${block.uri}${block.name ? ` (${block.name})` : ""}]`;
      default:
        return `[${(block as { type: string }).type} content, not shown]`;
    }
  });
  // A result with only structured content (allowed with an output schema) is told as its JSON.
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  const cut = (result._meta?.[CUT_META] as { bytes?: unknown } | undefined)?.bytes;
  return { text: parts.join("\n"), ...(typeof cut === "number" ? { cutFromBytes: cut } : {}) };
}
