import type { Command } from 'commander';

/** Registers `sluice policy`. Placeholder until its issue lands: it fails loudly, never silently. */
export function registerPolicyCommand(program: Command): void {
  program
    .command('policy')
    .description('Explain what a policy allows')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('sluice policy: not built yet\n');
      process.exitCode = 2;
    });
}
