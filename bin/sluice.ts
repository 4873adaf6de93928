#!/usr/bin/env node
/**
 * The one Sluice CLI. Each subcommand lives beside the code it drives and registers itself here;
 * this file only wires them together.
 */
import { Command } from 'commander';
import { registerProxyCommand } from '../proxy/cli.ts';
import { registerPolicyCommand } from '../proxy/policy/cli.ts';
import { registerOperatorCommand } from '../operator/cli.ts';
import { registerInjectCommand } from '../operator/inject/cli.ts';

const program = new Command('sluice')
  .description('Kubernetes-native access layer for S3-compatible object storage')
  .version('0.1.0');

registerProxyCommand(program);
registerPolicyCommand(program);
registerOperatorCommand(program);
registerInjectCommand(program);

await program.parseAsync(process.argv);
