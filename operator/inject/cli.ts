import type { Command } from 'commander';

/** Registers `sluice inject`. Placeholder until its issue lands: it fails loudly, never silently. */
export function registerInjectCommand(program: Command): void {
  program
    .command('inject')
    .description('Inject the sidecar into manifests offline')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('sluice inject: not built yet\n');
      process.exitCode = 2;
    });
}
