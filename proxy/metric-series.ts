/**
 * Counters and histograms for the request path, registered in a prom-client Registry like its own
 * metrics and scraped in the same text format (their series read the same), but updated without
 * prom-client's per-call work. prom-client resolves every `inc`/`observe`, even on a child from
 * `labels()`, by building the label object's hash string, and a histogram observation also makes
 * a closure and an object and looks its bucket up by a number-to-string key: 7 such calls per
 * request cost ~9 µs of the sidecar's CPU in place (bench/proxy/PERFORMANCE.md, sessions 14 and 15).
 * Here a series is an object the caller keeps (looked up by label values in nested Maps, no key
 * string built), and an update is a field increment.
 */
import type { Metric } from 'prom-client';

type Labels = Record<string, string>;

/** One counter series: `inc()` adds. */
export class CounterSeries {
  value = 0;
  readonly labels: Labels;
  constructor(labels: Labels) {
    this.labels = labels;
  }
  zero(): void {
    this.value = 0;
  }
  /** Adds `by` (default 1); a negative or non-finite amount is ignored (a counter only grows). */
  inc(by = 1): void {
    if (by >= 0 && by !== Infinity) this.value += by;
  }
}

/** One histogram series: per-bucket counts (not cumulative), their sum and count. */
export class HistogramSeries {
  readonly labels: Labels;
  private readonly bounds: readonly number[];
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last one above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }
  zero(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
  /** Records `v`; NaN and ±Infinity are ignored (they would poison the sum). */
  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** The map under `key` in `map`, made when missing. */
function level(map: Map<string, unknown>, key: string): Map<string, unknown> {
  let next = map.get(key) as Map<string, unknown> | undefined;
  if (next === undefined) map.set(key, (next = new Map()));
  return next;
}

/**
 * Series of one metric keyed by up to three label values, in nested Maps: a lookup hashes the
 * values (strings keep their hash) instead of concatenating them into a key.
 */
class SeriesTable<S extends { labels: Labels }> {
  private readonly root = new Map<string, unknown>();
  private readonly order = new Set<S>();
  private readonly names: readonly string[];
  private readonly make: (labels: Labels) => S;
  constructor(names: readonly string[], make: (labels: Labels) => S) {
    if (names.length > 3) throw new Error('At most three labels.');
    this.names = names;
    this.make = make;
  }

  /** The series of these label values (as many as labelNames); made on first use. */
  get(a = '', b = '', c = ''): S {
    const n = this.names.length;
    let map = this.root;
    if (n >= 2) map = level(map, a);
    if (n === 3) map = level(map, b);
    const key = n === 1 ? a : n === 2 ? b : c;
    let series = map.get(key) as S | undefined;
    if (series === undefined) {
      const values = [a, b, c];
      const labels: Labels = {};
      this.names.forEach((name, i) => (labels[name] = values[i]!));
      map.set(key, (series = this.make(labels)));
      this.order.add(series);
    }
    return series;
  }

  /** Every series, in the order first seen (as prom-client lists them). */
  all(): S[] {
    return [...this.order];
  }

  /** Drops every series whose label `name` is `value`. */
  removeWhere(name: string, value: string): void {
    const index = this.names.indexOf(name);
    if (index < 0) throw new Error(`No label ${name}.`);
    const prune = (map: Map<string, unknown>, depth: number): void => {
      if (depth === index) {
        const gone = map.get(value);
        if (gone === undefined) return;
        map.delete(value);
        if (depth === this.names.length - 1) this.order.delete(gone as S);
        else this.forgetAll(gone as Map<string, unknown>, depth + 1);
        return;
      }
      for (const [k, v] of map) {
        const child = v as Map<string, unknown>;
        prune(child, depth + 1);
        if (child.size === 0) map.delete(k);
      }
    };
    prune(this.root, 0);
  }

  private forgetAll(map: Map<string, unknown>, depth: number): void {
    for (const v of map.values()) {
      if (depth === this.names.length - 1) this.order.delete(v as S);
      else this.forgetAll(v as Map<string, unknown>, depth + 1);
    }
  }

  clear(): void {
    this.root.clear();
    this.order.clear();
  }
}

/** What get() hands the Registry: prom-client's MetricObjectWithValues. */
interface Exported<Type, Value> {
  name: string;
  help: string;
  type: Type;
  aggregator: 'sum';
  values: Value[];
}

interface FamilyConfig {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/** What a Registry reads from a metric (prom-client's Metric shape, the parts it uses). */
abstract class Family<S extends { labels: Labels; zero(): void }> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  protected readonly table: SeriesTable<S>;
  private readonly noLabels: boolean;
  constructor(config: FamilyConfig, make: (labels: Labels) => S) {
    this.name = config.name;
    this.help = config.help;
    const names = config.labelNames ?? [];
    this.noLabels = names.length === 0;
    this.table = new SeriesTable(names, make);
  }

  /** The series for these label values (in labelNames' order; none without labels). */
  series(a?: string, b?: string, c?: string): S {
    return this.table.get(a, b, c);
  }

  /** Drops the series whose label `name` has `value` (e.g. a backend that left). */
  removeWhere(name: string, value: string): void {
    this.table.removeWhere(name, value);
  }

  /**
   * Registry.resetMetrics(): series with labels go, as prom-client's do; the one series of a
   * metric without labels is zeroed in place, since its callers keep it (proxy/metrics.ts).
   */
  reset(): void {
    if (this.noLabels) this.table.get().zero();
    else this.table.clear();
  }

  /** Registers this in `registry` (which takes it as one of its own metrics). */
  registerIn(registry: { registerMetric(m: Metric): void }): this {
    // The Registry calls get() (or getForPromString()), reset() and reads name, help, type.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  /** A metric without labels has its one series from the start, at 0, as prom-client's do. */
  protected seriesForExport(): S[] {
    if (this.noLabels) this.table.get();
    return this.table.all();
  }
}

/** A counter family (`type counter`); the name should end in `_total`. */
export class CounterFamily extends Family<CounterSeries> {
  readonly type = 'counter';
  constructor(config: FamilyConfig) {
    super(config, (labels) => new CounterSeries(labels));
  }

  get(): Promise<Exported<'counter', { labels: Labels; value: number }>> {
    const values = this.seriesForExport().map((s) => ({ labels: s.labels, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: 'sum', values });
  }
}

interface HistogramValue {
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  value: number;
  metricName: string;
}

/** A histogram family (`type histogram`): _bucket{le}, _sum and _count per series. */
export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];
  constructor(config: FamilyConfig & { buckets: readonly number[] }) {
    const bounds = [...config.buckets].sort((a, b) => a - b);
    super(config, (labels) => new HistogramSeries(labels, bounds));
    this.bounds = bounds;
  }

  /** As prom-client's histogram: `le` as the label, the series' own labels beside it. */
  getForPromString(): Promise<Exported<'histogram', HistogramValue>> {
    const bucket = `${this.name}_bucket`;
    const values: HistogramValue[] = [];
    for (const s of this.seriesForExport()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      const shared = s.labels;
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucket },
        { labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: 'sum', values });
  }

  /** For JSON: each value's labels with the series' own merged in (as prom-client's get()). */
  async get(): Promise<Exported<'histogram', HistogramValue>> {
    const data = await this.getForPromString();
    data.values = data.values.map((v) => ({
      labels: { ...v.sharedLabels, ...v.labels },
      value: v.value,
      metricName: v.metricName,
    }));
    return data;
  }
}
