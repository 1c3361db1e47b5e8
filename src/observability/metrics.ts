// A small Prometheus registry: counters and gauges with labels, rendered in the text exposition format.

type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.keys(labels)
    .sort()
    .map((name) => `${name}="${String(labels[name]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Metric {
  protected readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (this.values.size === 0 && this.type === "gauge") lines.push(`${this.name} 0`);
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines.join("\n");
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
}

export class Counter extends Metric {
  inc(labels?: Labels, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
}

/** A gauge read when the metrics are rendered: one value, or one per label set. */
export type GaugeCollector = () => number | { labels: Labels; value: number }[];

export class Gauge extends Metric {
  constructor(name: string, help: string, private readonly collect?: GaugeCollector) {
    super(name, help, "gauge");
  }
  set(value: number, labels?: Labels): void {
    this.values.set(labelKey(labels), value);
  }
  add(by: number, labels?: Labels): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  override render(): string {
    const collected = this.collect?.();
    if (typeof collected === "number") this.values.set("", collected);
    else if (collected) {
      this.values.clear();
      for (const { labels, value } of collected) this.values.set(labelKey(labels), value);
    }
    return super.render();
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help, "counter"));
  }
  gauge(name: string, help: string, collect?: GaugeCollector): Gauge {
    return this.add(new Gauge(name, help, collect));
  }
  render(): string {
    return this.metrics.map((metric) => metric.render()).join("\n") + "\n";
  }
  private add<T extends Metric>(metric: T): T {
    this.metrics.push(metric);
    return metric;
  }
}

/** The metrics the gateway keeps. */
export function createGatewayMetrics(registry: Registry) {
  return {
    connections: registry.gauge("agentwire_connections", "Open WebSocket connections"),
    subscriptions: registry.gauge("agentwire_subscriptions", "Active channel subscriptions across connections"),
    framesIn: registry.counter("agentwire_frames_in_total", "Frames received from clients"),
    framesOut: registry.counter("agentwire_frames_out_total", "Frames sent directly to clients (fan-out counted once per publication)"),
    publications: registry.counter("agentwire_publications_total", "Publications accepted"),
    errors: registry.counter("agentwire_errors_total", "Error frames and responses sent, by code"),
    closes: registry.counter("agentwire_closes_total", "Connections closed by the server, by reason"),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
