// The wire protocol: schemas, codes and the encode/decode pair. Imports nothing of the server.

export * from "./ag-ui-events.ts";
export * from "./channels.ts";
export * from "./codes.ts";
export * from "./control-messages.ts";
export * from "./decode.ts";
export * from "./encode.ts";
export * from "./errors.ts";
export * from "./json-depth.ts";
export * from "./presence.ts";
export * from "./rest-views.ts";
export * from "./run-events.ts";
export * from "./schemas.ts";
export * from "./server-frames.ts";
export * from "./sse-events.ts";
export * from "./ui-message-chunks.ts";
export * from "./user-notices.ts";
