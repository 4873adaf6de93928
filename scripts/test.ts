/**
 * `node --test` over globs that must match something: `node --test "<glob>"` alone prints
 * `tests 0` and exits 0 when the glob matches no file, so a moved or misspelled test directory
 * would pass silently. This expands each glob itself (from the current directory), fails naming
 * the glob that matched nothing, and otherwise runs `node --test <flags> <files>` with this
 * Node, exiting as it did.
 *   usage: node scripts/test.ts [--node-test-flag=value ...] <glob> [<glob> ...]
 * Flags are the arguments starting with `-`, so give them in their `--flag=value` form.
 */
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('-'));
const globs = args.filter((a) => !a.startsWith('-'));
if (globs.length === 0) {
  process.stderr.write('usage: node scripts/test.ts [--node-test-flag=value ...] <glob> [<glob> ...]\n');
  process.exit(2);
}

const files: string[] = [];
for (const glob of globs) {
  const matched = globSync(glob).sort();
  if (matched.length === 0) {
    process.stderr.write(`scripts/test.ts: no test file matches "${glob}" (in ${process.cwd()})\n`);
    process.exit(1);
  }
  files.push(...matched);
}

const run = spawnSync(process.execPath, ['--test', ...flags, ...files], { stdio: 'inherit' });
if (run.error) throw run.error;
// Killed by a signal: die of the same signal, so the caller sees what happened to the tests.
if (run.signal) process.kill(process.pid, run.signal);
process.exit(run.status ?? 1);
