#!/usr/bin/env node
/**
 * The one Sluice CLI. Each subcommand lives beside the code it drives and registers itself here;
 * this file only wires them together.
 *
 * Subcommands are imported lazily: the sidecar (`sluice proxy`) runs in every injected pod, so it
 * must not pay for loading the operator's Kubernetes client (~50 MB RSS) it never uses. Only
 * help, version and unknown commands load them all.
 */
import { Command } from 'commander';

type Register = (program: Command) => void;
const subcommands: Record<string, () => Promise<Register>> = {
  proxy: async () => (await import('../proxy/cli.ts')).registerProxyCommand,
  policy: async () => (await import('../proxy/policy/cli.ts')).registerPolicyCommand,
  operator: async () => (await import('../operator/cli.ts')).registerOperatorCommand,
  inject: async () => (await import('../operator/inject/cli.ts')).registerInjectCommand,
};

const program = new Command('sluice')
  .description('Kubernetes-native access layer for S3-compatible object storage')
  .version('0.1.0')
  // A usage error (unknown option, missing argument) exits 2 in every subcommand, which inherit
  // this: 1 means "denied" to `sluice inject` and `sluice policy check`, and "could not start"
  // to the servers. Help and version exit 0.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

const wanted = process.argv[2];
// Own keys only: `sluice toString` is an unknown command, not Object.prototype's method.
const load = wanted !== undefined && Object.hasOwn(subcommands, wanted) ? [wanted] : Object.keys(subcommands);
for (const name of load) {
  const register = await subcommands[name]?.();
  register?.(program);
}

await program.parseAsync(process.argv);
