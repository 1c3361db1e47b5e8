// Requests between nodes: a run lives on the node that accepted it, and stop/approve/reject sent to
// any other node are forwarded to it here. The in-process bus serves a single node.

import { ErrorCode, ProtocolError, type ControlNotice, type ControlReply, type ControlRequest } from "../protocol/index.ts";

export type ControlHandler = (request: ControlRequest) => Promise<ControlReply>;
export type NoticeHandler = (notice: ControlNotice) => void;

export interface ControlBus {
  /** This node's id, stored with the runs it executes. */
  readonly nodeId: string;
  /**
   * Whether this node is the only one (no bus to other nodes): then every unfinished run in storage was
   * cut off by this node's previous process; with other nodes they may still be running there.
   */
  readonly singleNode: boolean;
  /**
   * Sends `request` to node `nodeId` and resolves with its handler's answer. A handler that throws a
   * ProtocolError is re-thrown here with the same code; no answer within `timeoutMs` (node gone,
   * broker down) rejects with `unavailable`.
   */
  request(nodeId: string, request: ControlRequest, timeoutMs: number): Promise<ControlReply>;
  /** The one handler for requests addressed to this node. */
  onRequest(handler: ControlHandler): void;
  /** Tells every node, this one included; resolves once the notice is on its way to all of them. */
  broadcast(notice: ControlNotice): Promise<void>;
  /** The one handler for notices, from any node. */
  onNotice(handler: NoticeHandler): void;
  close(): Promise<void>;
}

/** The single-node bus: requests to this node run in process; there is no other node to reach. */
export class LocalControlBus implements ControlBus {
  readonly singleNode = true;
  private handler: ControlHandler | undefined;
  private noticeHandler: NoticeHandler = () => {};

  constructor(readonly nodeId: string) {}

  async broadcast(notice: ControlNotice): Promise<void> {
    this.noticeHandler(notice);
  }

  onNotice(handler: NoticeHandler): void {
    this.noticeHandler = handler;
  }

  async request(nodeId: string, request: ControlRequest): Promise<ControlReply> {
    if (nodeId !== this.nodeId || !this.handler) throw new ProtocolError(ErrorCode.unavailable, `node ${nodeId} cannot be reached`);
    return this.handler(request);
  }

  onRequest(handler: ControlHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {}
}
