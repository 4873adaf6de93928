/**
 * Regenerates the webhook's golden files (`make golden`): test/golden/<case>.patch.json for
 * every case in test/fixtures/cases.ts, and test/golden/workloads.inject.yaml from
 * `sluice inject` on test/fixtures/workloads.yaml. Review the diff before committing: a golden
 * file is the specification of what the webhook does to a pod.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CASES, GOLDEN_DIR, runCase } from '../test/fixtures/cases.ts';
import { injectStream } from '../operator/inject/inject.ts';
import { resolveInjectorConfig } from '../operator/webhook/config.ts';

let failed = false;
for (const c of CASES) {
  const { golden, outcome } = runCase(c);
  if (outcome !== c.expect) {
    // A fixture that no longer does what its case says is a bug, not a new golden.
    process.stderr.write(`${c.name}: expected ${c.expect}, got ${outcome}; not written\n`);
    failed = true;
    continue;
  }
  writeFileSync(join(GOLDEN_DIR, `${c.name}.patch.json`), JSON.stringify(golden, null, 2) + '\n');
  process.stdout.write(`${c.name}.patch.json (${outcome})\n`);
}

const workloads = readFileSync(join(GOLDEN_DIR, '../fixtures/workloads.yaml'), 'utf8');
const { output } = injectStream(workloads, { config: resolveInjectorConfig(), nativeSidecars: true });
writeFileSync(join(GOLDEN_DIR, 'workloads.inject.yaml'), output);
process.stdout.write('workloads.inject.yaml\n');
process.exitCode = failed ? 1 : 0;
