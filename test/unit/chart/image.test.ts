/**
 * The container image, checked without a Docker engine: the Dockerfile is the one the chart and
 * the webhook assume (entrypoint, user, what it copies), and everything the shipped code imports
 * at run time is inside the image — a relative import outside bin/, proxy/, operator/ or crds/,
 * or a package that is only a devDependency (`npm ci --omit=dev` leaves it out), fails here
 * instead of at `kubectl logs`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { buildDist, DIST_ENTRY } from '../../../scripts/build.ts';
import { REPO_ROOT } from './helm.ts';

/** Sources compiled into the image's dist/ (tsconfig.build.json includes exactly these). */
const SOURCE_DIRS = ['bin', 'proxy', 'operator'];
/** What the build context admits (.dockerignore) besides package*.json. */
const CONTEXT = [...SOURCE_DIRS, 'crds', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.ts'];

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

void describe('Dockerfile', () => {
  const all = instructions(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  const args = new Map(all.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
  const froms = all.map((i, idx) => ({ ...i, idx })).filter((i) => i.op === 'FROM');
  const finalStage = all.slice((froms.at(-1)?.idx ?? 0) + 1);
  const image = (from: string): string => {
    const ref = from.split(/\s+/)[0] ?? '';
    return ref.replace(/^\$\{(\w+)\}$/, (_m, name: string) => args.get(name) ?? '');
  };

  void test('three stages, all Node 24: build dist/, npm ci of production dependencies, a small runtime', () => {
    assert.equal(froms.length, 3);
    const [build, deps, final] = froms.map((f) => image(f.args));
    assert.match(build ?? '', /^node:24-bookworm-slim$/);
    assert.match(deps ?? '', /^node:24-bookworm-slim$/);
    assert.match(final ?? '', /^gcr\.io\/distroless\/nodejs24-debian12(:nonroot)?$/);
    const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
    assert.ok(runs.some((r) => r === 'node scripts/build.ts'));
    assert.ok(runs.some((r) => /npm ci --omit=dev/.test(r)));
  });

  void test('final stage: numeric non-root user 65532, ENTRYPOINT node dist/bin/sluice.js, node on PATH', () => {
    const user = finalStage.filter((i) => i.op === 'USER').at(-1)?.args;
    assert.equal(user, '65532:65532');
    const entry = finalStage.filter((i) => i.op === 'ENTRYPOINT').at(-1)?.args;
    assert.deepEqual(JSON.parse(entry ?? 'null'), ['node', DIST_ENTRY]);
    const env = finalStage
      .filter((i) => i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    // Distroless keeps node in /nodejs/bin, which is not on its default PATH.
    assert.match(env, /PATH=\/nodejs\/bin:/);
    assert.equal(finalStage.find((i) => i.op === 'WORKDIR')?.args, '/app');
  });

  void test('final stage copies exactly node_modules, package.json, dist/ and crds/ — no sources', () => {
    const sources = finalStage
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--'))[0]);
    assert.deepEqual(
      sources.sort(),
      ['/app/node_modules', '/usr/local/bin/sluice', 'package.json', '/app/dist', 'crds'].sort(),
    );
  });

  void test('the build stage compiles exactly what tsconfig.build.json includes', () => {
    const build = JSON.parse(
      readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''),
    ) as { include: string[] };
    assert.deepEqual([...build.include].sort(), [...SOURCE_DIRS].sort());
    const buildStage = all.slice(froms[0]!.idx + 1, froms[1]!.idx);
    const copied = buildStage.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const d of SOURCE_DIRS) assert.ok(copied.includes(d), `build stage copies ${d}`);
  });

  void test('the `sluice` launcher it writes runs the CLI (checked here with this Node and repo)', () => {
    // The printf format the deps stage writes to /usr/local/bin/sluice, with the image's paths
    // (/nodejs/bin/node, /app) swapped for this machine's: same loader path, same argv handling.
    const run = all.find((i) => i.op === 'RUN' && i.args.includes('/usr/local/bin/sluice'))?.args ?? '';
    const format = /printf '([^']*)'/.exec(run)?.[1];
    assert.ok(format, 'a printf that writes the launcher');
    assert.match(format, /^#!\/nodejs\/bin\/node\\n/);
    assert.ok(format.includes(`/app/${DIST_ENTRY}`), 'the launcher runs the built CLI');
    buildDist();
    const script = format
      .replaceAll('\\n', '\n')
      .replace('/nodejs/bin/node', process.execPath)
      .replace('/app/', `${REPO_ROOT}/`);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-launcher-'));
    try {
      const launcher = join(dir, 'sluice');
      writeFileSync(launcher, script);
      chmodSync(launcher, 0o555);
      const r = spawnSync(launcher, ['--help'], { encoding: 'utf8', cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Usage: sluice/);
      for (const cmd of ['proxy', 'operator']) assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('dist/ is readable by everyone: the image copies it as built and runs as user 65532', () => {
    buildDist();
    const walk = (dir: string): void => {
      const mode = statSync(dir).mode & 0o777;
      assert.equal(mode & 0o055, 0o055, `${dir} is ${mode.toString(8)}: others cannot list it`);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else assert.equal(statSync(p).mode & 0o044, 0o044, `${p} is not readable by others`);
      }
    };
    walk(join(REPO_ROOT, 'dist'));
  });

  void test('.dockerignore admits only what the build copies', () => {
    const lines = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    assert.equal(lines[0], '*', 'deny everything first');
    const admitted = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    assert.deepEqual(admitted.sort(), ['package-lock.json', 'package.json', ...CONTEXT].sort());
  });
});

/** Every .ts file under `dir` (absolute paths). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Module specifiers `file` loads at run time (type-only imports and exports are erased). */
function runtimeImports(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2024, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isImportDeclaration(node) &&
      !node.importClause?.isTypeOnly &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      out.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      !node.isTypeOnly &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      out.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      out.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

void describe('what the image runs', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const files = SOURCE_DIRS.filter((d) => {
    try {
      return statSync(join(REPO_ROOT, d)).isDirectory();
    } catch {
      return false;
    }
  }).flatMap((d) => tsFiles(join(REPO_ROOT, d)));

  void test('the CLI source bin/sluice.ts is among the compiled sources', () => {
    assert.ok(files.includes(join(REPO_ROOT, 'bin/sluice.ts')));
  });

  void test('every package imported at run time is a production dependency', () => {
    const misplaced = new Set<string>();
    for (const f of files) {
      for (const spec of runtimeImports(f)) {
        if (spec.startsWith('.') || spec.startsWith('/')) continue;
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = packageName(spec);
        if (!deps.has(name)) misplaced.add(`${name} (${relative(REPO_ROOT, f)})`);
      }
    }
    assert.deepEqual([...misplaced], [], 'imported at run time but not in package.json "dependencies"');
  });

  void test('every relative import stays inside the directories compiled into dist/', () => {
    const outside: string[] = [];
    for (const f of files) {
      for (const spec of runtimeImports(f)) {
        if (!spec.startsWith('.')) continue;
        const target = relative(REPO_ROOT, resolve(dirname(f), spec));
        if (!SOURCE_DIRS.some((d) => target.startsWith(`${d}/`)))
          outside.push(`${relative(REPO_ROOT, f)} → ${target}`);
      }
    }
    assert.deepEqual(outside, []);
  });
});
