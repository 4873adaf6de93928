import type { Command } from 'commander';

/** Registers `sluice operator`. Placeholder until its issue lands: it fails loudly, never silently. */
export function registerOperatorCommand(program: Command): void {
  program
    .command('operator')
    .description('Run the operator (webhook + controller)')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('sluice operator: not built yet\n');
      process.exitCode = 2;
    });
}
