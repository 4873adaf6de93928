/**
 * The Grafana dashboard queries metrics that exist: every `sluice_*` series a panel uses is
 * defined by one of the components' metrics files (prom-client `name:` / `labelNames:`), and every
 * label it groups by is one of that metric's labels or one Prometheus adds to every target.
 * Renaming a metric without updating files/dashboard.json fails here, not on a blank panel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_DIR, REPO_ROOT } from './helm.ts';

/** Labels Prometheus attaches itself: scrape target labels and the histogram bucket bound. */
const TARGET_LABELS = new Set(['le', 'namespace', 'pod', 'container', 'instance', 'job']);

/** metric name → label names, from every `metrics.ts` under proxy/ and operator/. */
function definedMetrics(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) visit(p);
      else if (name === 'metrics.ts') {
        const src = readFileSync(p, 'utf8');
        // Each prom-client constructor: name: '...' then, before the next name:, labelNames: [...]
        const re = /name:\s*'(sluice_[a-z0-9_]+)'([\s\S]*?)(?=name:\s*'sluice_|$)/g;
        for (const m of src.matchAll(re)) {
          const labels = /labelNames:\s*\[([^\]]*)\]/.exec(m[2] ?? '')?.[1] ?? '';
          out.set(m[1] as string, new Set([...labels.matchAll(/'([a-z_]+)'/g)].map((l) => l[1] as string)));
        }
      }
    }
  };
  visit(join(REPO_ROOT, 'proxy'));
  visit(join(REPO_ROOT, 'operator'));
  return out;
}

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}

void test('every dashboard query uses defined metrics and their labels', () => {
  const metrics = definedMetrics();
  assert.ok(metrics.size > 0, 'no metrics.ts found under proxy/ or operator/');
  const dash = JSON.parse(readFileSync(join(CHART_DIR, 'files/dashboard.json'), 'utf8')) as Dashboard;
  const problems: string[] = [];
  for (const panel of dash.panels) {
    for (const { expr } of panel.targets) {
      const used = [...expr.matchAll(/\b(sluice_[a-z0-9_]+)/g)].map((m) =>
        (m[1] as string).replace(/_(bucket|sum|count)$/, ''),
      );
      const labels = new Set<string>();
      for (const name of used) {
        const defined = metrics.get(name);
        if (!defined) problems.push(`${panel.title}: ${name} is not defined`);
        else for (const l of defined) labels.add(l);
      }
      for (const by of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const l of (by[1] ?? '').split(',').map((s) => s.trim())) {
          if (!labels.has(l) && !TARGET_LABELS.has(l))
            problems.push(`${panel.title}: label ${l} is not on ${used.join(', ')}`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});
