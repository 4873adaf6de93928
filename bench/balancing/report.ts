/**
 * Writes the benchmark's results: JSON (everything), Markdown (the table and the targets' checks)
 * and a hand-written SVG chart of p99 latency over time per target, phases marked.
 */
import { writeFileSync } from 'node:fs';

/** One phase of one target. */
export interface PhaseResult {
  phase: string;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
  /** Each round's p99 when the phase ran more than once (p99 is then their median). */
  p99Rounds?: number[];
  /** Fraction of requests that took 50 ms or more (the slow node's mark, above the noise). */
  over50: number;
  /** Fraction of requests served by each MinIO node, in node order. */
  shares: number[];
}

/** One target's run. */
export interface TargetResult {
  name: string;
  phases: PhaseResult[];
  /** p90 latency (ms) per time bucket, bucket start ms since the healthy phase began. */
  series: { t: number; p90: number }[];
  /** Error messages seen, with counts. */
  errorKinds: Record<string, number>;
}

/** A target check and whether it held. */
export interface Check {
  what: string;
  value: string;
  ok: boolean;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/** The Markdown report. */
export function markdown(results: TargetResult[], checks: Check[], notes: string[]): string {
  const lines = ['# Balancing benchmark', '', ...notes.map((n) => `- ${n}`), ''];
  lines.push(
    '| target | phase | requests | errors | p50 ms | p99 ms | ≥ 50 ms | node shares (n0/n1/n2/n3) |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    for (const p of r.phases) {
      const shares = p.shares.map((s) => `${(s * 100).toFixed(1)}%`).join(' / ');
      lines.push(
        `| ${r.name} | ${p.phase} | ${p.requests} | ${p.errors} | ${p.p50.toFixed(1)} | ${p.p99.toFixed(1)}${p.p99Rounds && p.p99Rounds.length > 1 ? ` [${p.p99Rounds.map((x) => x.toFixed(1)).join(', ')}]` : ''} | ${(p.over50 * 100).toFixed(1)}% | ${shares} |`,
      );
    }
  }
  lines.push('', '## Targets (issue 5)', '');
  for (const c of checks) lines.push(`- ${c.ok ? 'PASS' : 'FAIL'} — ${c.what}: ${c.value}`);
  const kinds = results.filter((r) => Object.keys(r.errorKinds).length > 0);
  if (kinds.length > 0) {
    lines.push('', '## Errors seen', '');
    for (const r of kinds) lines.push(`- ${r.name}: ${JSON.stringify(r.errorKinds)}`);
  }
  lines.push('', '![p90 latency over time](balancing-latency.svg)', '');
  return lines.join('\n');
}

/** The SVG chart: p90 per bucket over time (log scale), one line per target. */
export function chart(
  results: TargetResult[],
  phases: { name: string; startMs: number }[],
  endMs: number,
): string {
  const W = 960;
  const H = 440;
  const m = { l: 60, r: 190, t: 30, b: 40 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = results.flatMap((r) => r.series.map((s) => s.p90)).filter((v) => v > 0);
  const lo = Math.max(0.5, Math.min(...all));
  const hi = Math.max(...all) * 1.2;
  const x = (t: number): number => m.l + (t / endMs) * pw;
  const y = (v: number): number =>
    m.t + ph - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="18" font-size="14">p90 latency per ${bucketLabel(results)} window over time (log scale), per target</text>`,
  ];
  for (const p of phases) {
    out.push(
      `<line x1="${x(p.startMs)}" y1="${m.t}" x2="${x(p.startMs)}" y2="${m.t + ph}" stroke="#999" stroke-dasharray="4 3"/>`,
    );
    out.push(`<text x="${x(p.startMs) + 4}" y="${m.t + 12}" fill="#555">${esc(p.name)}</text>`);
  }
  for (let d = Math.ceil(Math.log10(lo)); d <= Math.floor(Math.log10(hi)); d++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** d;
      if (v < lo || v > hi) continue;
      out.push(`<line x1="${m.l}" y1="${y(v)}" x2="${m.l + pw}" y2="${y(v)}" stroke="#eee"/>`);
      out.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v} ms</text>`);
    }
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (let s = 0; s <= endMs / 1000; s++)
    out.push(`<text x="${x(s * 1000)}" y="${m.t + ph + 16}" text-anchor="middle">${s}s</text>`);
  results.forEach((r, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = r.series.map((s) => `${x(s.t).toFixed(1)},${y(s.p90).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${pts}"/>`);
    out.push(`<rect x="${m.l + pw + 15}" y="${m.t + 10 + i * 20}" width="14" height="3" fill="${color}"/>`);
    out.push(`<text x="${m.l + pw + 35}" y="${m.t + 15 + i * 20}">${esc(r.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function bucketLabel(results: TargetResult[]): string {
  const s = results[0]?.series;
  return s && s.length > 1 ? `${s[1]!.t - s[0]!.t} ms` : 'bucket';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** Writes the three files under `dir` with `stem`. */
export function writeReport(dir: string, stem: string, json: unknown, md: string, svg: string): void {
  writeFileSync(`${dir}/${stem}.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${dir}/${stem}.md`, md);
  writeFileSync(`${dir}/balancing-latency.svg`, svg);
}
