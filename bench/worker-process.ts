// A bench helper process driven over IPC: each command carries an id and is answered by a report with the same id.

import type { Subprocess } from "bun";

interface Answer {
  type: string;
  id?: number;
  text?: string;
}

/** A command before it is numbered (Omit of each member: Omit of a union keeps only the shared keys). */
type WithoutId<Command> = Command extends unknown ? Omit<Command, "id"> : never;

const workers = new Set<Subprocess>();

/** Kill every helper still running; synchronous so it also works from an exit handler. */
export function killAllWorkers(): void {
  for (const child of workers) child.kill("SIGKILL");
  workers.clear();
}
process.on("exit", killAllWorkers);

export class WorkerProcess<Command extends { id: number }, Report extends Answer> {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (report: Report) => void; reject: (error: Error) => void }>();
  readonly ready: Promise<void>;
  private readonly child: Subprocess;

  /** `onOther` gets every report that answers no command (progress, problems); `{type: "ready"}` marks the start. */
  constructor(script: string, env: Record<string, string> = {}, onOther: (report: Report) => void = () => {}) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.child = Bun.spawn([process.execPath, "run", new URL(script, import.meta.url).pathname], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (report: Report) => {
        if (report.type === "ready") return markReady();
        const request = report.id === undefined ? undefined : this.waiting.get(report.id);
        if (!request) return onOther(report);
        this.waiting.delete(report.id!);
        if (report.type === "failed") request.reject(new Error(report.text));
        else request.resolve(report);
      },
    });
    workers.add(this.child);
    void this.child.exited.then((code) => {
      workers.delete(this.child);
      for (const request of this.waiting.values()) request.reject(new Error(`${script} exited with ${code}`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  request<T extends Report>(command: WithoutId<Command>): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (report: Report) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  /** Kills the process (its sockets go with it) and waits until it is gone. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.child.exited;
  }
}
