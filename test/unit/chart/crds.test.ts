/**
 * The chart ships the repo's CRDs unchanged: charts/sluice/crds/ must equal crds/ file for file,
 * byte for byte. Fix a failure with `charts/sluice/hack/sync-crds.sh`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, REPO_ROOT } from './helm.ts';

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
const FIX = 'run charts/sluice/hack/sync-crds.sh';

void test('charts/sluice/crds holds exactly the files of crds/', () => {
  assert.deepEqual(yamlFiles(join(CHART_DIR, 'crds')), yamlFiles(join(REPO_ROOT, 'crds')), FIX);
});

void test('each chart CRD is byte-identical to its source', () => {
  for (const f of yamlFiles(join(REPO_ROOT, 'crds'))) {
    const src = readFileSync(join(REPO_ROOT, 'crds', f), 'utf8');
    const chart = readFileSync(join(CHART_DIR, 'crds', f), 'utf8');
    assert.ok(src === chart, `charts/sluice/crds/${f} differs from crds/${f}: ${FIX}`);
  }
});

void test('the chart ships the ObjectStore and BucketAccess CRDs of sluice.dev', () => {
  const names: string[] = [];
  for (const f of yamlFiles(join(CHART_DIR, 'crds'))) {
    for (const doc of parseAllDocuments(readFileSync(join(CHART_DIR, 'crds', f), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (o?.kind === 'CustomResourceDefinition' && o.metadata?.name) names.push(o.metadata.name);
    }
  }
  assert.deepEqual(names.sort(), ['bucketaccesses.sluice.dev', 'objectstores.sluice.dev']);
});
