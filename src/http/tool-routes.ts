// GET /tools: every tool offered to the model, with its source and approval rule, and each source's state.

import { Elysia } from "elysia";
import type { ApprovalPolicy } from "../agent/tools/approval-policy.ts";
import type { ToolRegistry } from "../agent/tools/registry.ts";
import type { TokenService } from "../auth/tokens.ts";
import { requirePrincipal } from "./auth.ts";

export interface ToolRouteDeps {
  tokens: TokenService;
  tools: ToolRegistry;
  approvals: ApprovalPolicy;
}

export function toolRoutes({ tokens, tools, approvals }: ToolRouteDeps) {
  return new Elysia({ name: "tool-routes" }).get(
    "/tools",
    async ({ request }) => {
      await requirePrincipal(tokens, request.headers.get("authorization"));
      return {
        tools: tools.entries().map(({ tool, source, parameters }) => {
          const approval = approvals.rule(tool.name, tool);
          return {
            name: tool.name,
            description: tool.description,
            source: source.name,
            requires_approval: approval === "required" || approval === "destructive",
            approval,
            parameters,
          };
        }),
        sources: tools.sources.map((source) => ({ name: source.name, kind: source.kind, ...source.health() })),
      };
    },
    { detail: { summary: "The tools offered to the model, their sources and approval rules (docs/protocol.md section 13)", security: [{ bearerAuth: [] }] } },
  );
}
