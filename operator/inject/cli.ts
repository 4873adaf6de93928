import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { defaultInjectorConfig, resolveInjectorConfig } from '../webhook/config.ts';
import type { InjectorConfig } from '../webhook/config.ts';
import { parseKubeVersion, supportsNativeSidecars } from '../webhook/version.ts';
import { injectStream } from './inject.ts';
import type { InjectReport } from './inject.ts';

interface InjectFlags {
  filename: string;
  kubeVersion?: string;
  config?: string;
  image?: string;
  hostNetwork?: string;
  operatorNamespace?: string;
  region?: string;
}

/**
 * Registers `sluice inject -f FILE|-`: writes the injected YAML stream to stdout and one line
 * per workload to stderr. Exit status 1 when a pod template would be denied (that document is
 * written unchanged), 2 on unreadable input or configuration.
 */
export function registerInjectCommand(program: Command): void {
  program
    .command('inject')
    .description('Inject the Sluice sidecar into Kubernetes manifests offline (a YAML stream; - is stdin)')
    .requiredOption('-f, --filename <file>', 'manifest file, or - for stdin')
    .option(
      '--kube-version <version>',
      'target cluster version (< 1.29: non-native sidecar); default: native',
    )
    .option('--config <file>', 'injector settings (YAML/JSON, the fields of InjectorConfig)')
    .option('--image <image>', 'sidecar image')
    .option('--host-network <policy>', 'hostNetwork pods: refuse | skip')
    .option('--operator-namespace <ns>', "the operator's namespace (never injected)")
    .option('--region <region>', 'AWS_REGION given to apps')
    .action(async (flags: InjectFlags) => {
      process.exitCode = await runInject(flags);
    });
}

/**
 * The injector settings of a `--config` file: an object whose keys are InjectorConfig's fields.
 * A typo (`imagee:`) is refused, not ignored; the values are checked by resolveInjectorConfig.
 */
function injectorConfigFile(file: string, text: string): Partial<InjectorConfig> {
  const doc = parseYaml(text) as unknown;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new Error(`${file}: must be a mapping`);
  // The defaults name every field but the optional ones without a default.
  const known = [...Object.keys(defaultInjectorConfig()), 'command', 'cacheSize'];
  for (const key of Object.keys(doc)) {
    if (!known.includes(key)) throw new Error(`${file}: ${key}: unknown field (known: ${known.join(', ')})`);
  }
  return doc;
}

async function runInject(flags: InjectFlags): Promise<number> {
  let config: InjectorConfig;
  let input: string;
  try {
    const fromFile = flags.config
      ? injectorConfigFile(flags.config, await readFile(flags.config, 'utf8'))
      : {};
    if (flags.kubeVersion !== undefined && parseKubeVersion(flags.kubeVersion) === undefined)
      throw new Error(`--kube-version ${flags.kubeVersion}: not a Kubernetes version (e.g. 1.31)`);
    config = resolveInjectorConfig({
      ...fromFile,
      ...(flags.image && { image: flags.image }),
      ...(flags.hostNetwork && { hostNetwork: flags.hostNetwork as InjectorConfig['hostNetwork'] }),
      ...(flags.operatorNamespace && { operatorNamespace: flags.operatorNamespace }),
      ...(flags.region && { region: flags.region }),
    });
    input = flags.filename === '-' ? await readStdin() : await readFile(flags.filename, 'utf8');
  } catch (err) {
    process.stderr.write(`sluice inject: ${(err as Error).message}\n`);
    return 2;
  }
  const nativeSidecars = flags.kubeVersion === undefined || supportsNativeSidecars(flags.kubeVersion);
  let result: { output: string; reports: InjectReport[] };
  try {
    result = injectStream(input, { config, nativeSidecars });
  } catch (err) {
    process.stderr.write(`sluice inject: ${(err as Error).message}\n`);
    return 2;
  }
  process.stdout.write(result.output);
  let denied = false;
  for (const r of result.reports) {
    const o = r.outcome;
    const what =
      o.result === 'skipped'
        ? `skipped (${o.reason})`
        : o.result === 'denied'
          ? `NOT injected: ${o.message}`
          : 'injected';
    if (o.result === 'denied') denied = true;
    process.stderr.write(`${r.resource} ${what}\n`);
    for (const w of r.warnings) process.stderr.write(`  warning: ${w}\n`);
  }
  return denied ? 1 : 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
