// CPU time of a process's threads, from /proc/<pid>/task/*/schedstat and comm (Linux).

import { readdirSync, readFileSync } from "node:fs";

export interface ThreadTime {
  /** "main" for the JavaScript thread; otherwise the name the runtime gave it ("HTTP Client", "JITWorker"...). */
  name: string;
  nanoseconds: number;
}

/** Each live thread of `pid` by task id. */
export function threadTimes(pid: number): Map<string, ThreadTime> {
  const times = new Map<string, ThreadTime>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const nanoseconds = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
      const name = task === String(pid) ? "main" : readFileSync(`/proc/${pid}/task/${task}/comm`, "utf8").trim();
      times.set(task, { name, nanoseconds });
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return times;
}

/**
 * CPU seconds used between two readings, thread by thread (a thread that ended meanwhile takes its time
 * with it); only the threads `counted` accepts when given.
 */
export function cpuSecondsBetween(before: Map<string, ThreadTime>, after: Map<string, ThreadTime>, counted: (thread: ThreadTime) => boolean = () => true): number {
  let nanoseconds = 0;
  for (const [task, thread] of after) if (counted(thread)) nanoseconds += thread.nanoseconds - (before.get(task)?.nanoseconds ?? 0);
  return nanoseconds / 1e9;
}

/** "main 53%, HTTP Client 27%, ...": each thread name's share of one core over `seconds`, largest first, from 1%. */
export function describeThreads(before: Map<string, ThreadTime>, after: Map<string, ThreadTime>, seconds: number): string {
  const byName = new Map<string, number>();
  for (const [task, thread] of after) byName.set(thread.name, (byName.get(thread.name) ?? 0) + thread.nanoseconds - (before.get(task)?.nanoseconds ?? 0));
  return [...byName]
    .map(([name, nanoseconds]) => [name, nanoseconds / 1e9 / seconds] as const)
    .filter(([, share]) => share >= 0.01)
    .sort((first, second) => second[1] - first[1])
    .map(([name, share]) => `${name} ${(share * 100).toFixed(0)}%`)
    .join(", ");
}
