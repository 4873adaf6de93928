import type { Command } from 'commander';

/** Registers `sluice proxy`. Placeholder until its issue lands: it fails loudly, never silently. */
export function registerProxyCommand(program: Command): void {
  program
    .command('proxy')
    .description('Run the S3 sidecar proxy')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('sluice proxy: not built yet\n');
      process.exitCode = 2;
    });
}
