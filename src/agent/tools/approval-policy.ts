// Which tool calls wait for the owner's approval: names matching TOOLS_REQUIRE_APPROVAL (globs), and
// tools their source marks destructive unless TOOLS_AUTO_APPROVE (globs) matches them (docs/protocol.md section 13).

import { compileGlob, matchesAny, type Glob } from "../../auth/glob.ts";
import type { Tool } from "./tool.ts";

/** Why a tool needs approval, as `GET /tools` reports it; `auto_approved` is a destructive tool TOOLS_AUTO_APPROVE lets through. */
export type ApprovalRule = "required" | "destructive" | "auto_approved" | "none";

export class ApprovalPolicy {
  private readonly required: Glob[];
  private readonly autoApproved: Glob[];

  constructor(requireApproval: readonly string[], autoApprove: readonly string[]) {
    this.required = requireApproval.map(compileGlob);
    this.autoApproved = autoApprove.map(compileGlob);
  }

  rule(name: string, tool: Tool | undefined): ApprovalRule {
    if (matchesAny(this.required, name)) return "required";
    if (!tool?.destructive) return "none";
    return matchesAny(this.autoApproved, name) ? "auto_approved" : "destructive";
  }

  requiresApproval(name: string, tool: Tool | undefined): boolean {
    const rule = this.rule(name, tool);
    return rule === "required" || rule === "destructive";
  }
}
