/**
 * The proxy logger's own stdout path (proxy/log.ts createLogger without a test destination):
 * a LineBatcher in front of sonic-boom in buffer mode. Run in a child process, whose stdout is
 * the pipe this test reads, so what a pod's log collector would get is what is checked.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function run(script: string): { lines: Record<string, unknown>[]; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, stderr: r.stderr, status: r.status };
}

const WRITE_LINES = `
  const { createLogger, flushLog, logAccess } = await import('./proxy/log.ts');
  const log = createLogger('info');
  const keys = [];
  for (let i = 0; i < 3000; i++) keys.push(i % 1000 === 7 ? 'ä/"\\\\' + 'x'.repeat(20000) + i : 'k' + i);
  for (let i = 0; i < keys.length; i++) {
    logAccess(log, { requestId: String(i), method: 'GET', operation: 'GetObject', bucket: 'b', key: keys[i],
      status: 200, bytesIn: 0, bytesOut: i, durationMs: 0.5, outcome: 'ok' });
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  log.warn({ n: keys.length }, 'done');
`;

function checkLines(lines: Record<string, unknown>[]): void {
  const access = lines
    .filter((l) => l.msg === 'request')
    .map((l) => l.access as { key: string; bytesOut: number });
  assert.equal(access.length, 3000, 'every access line arrives once');
  access.forEach((a, i) => assert.equal(a.bytesOut, i, 'in order'));
  // Non-ASCII, quotes, backslashes and lines far larger than a batch arrive whole.
  assert.equal(access[7]!.key, `ä/"\\${'x'.repeat(20000)}7`);
  assert.equal(access[2007]!.key, `ä/"\\${'x'.repeat(20000)}2007`);
  assert.equal(access[8]!.key, 'k8');
  const last = lines.at(-1)!;
  assert.equal(last.msg, 'done');
  assert.equal(last.component, 'sluice-proxy');
  assert.match(String(last.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
}

void test('stdout gets every line whole and in order after flushLog', () => {
  const r = run(`${WRITE_LINES}
    await flushLog(log);
    process.stdout.write(''); // nothing else is written
  `);
  assert.equal(r.status, 0, r.stderr);
  checkLines(r.lines);
});

void test('lines still batched when the process exits are written, not lost', () => {
  // Fewer bytes than a batch, so no write has started when the process exits: each line waits in
  // the batch, and only the exit hook can write it. (With a write in flight at exit, sonic-boom
  // writes the rest past it, out of order: the proxy flushes before it exits on SIGTERM.)
  const r = run(`
    const { createLogger, logAccess } = await import('./proxy/log.ts');
    const log = createLogger('info');
    for (let i = 0; i < 5; i++)
      logAccess(log, { requestId: String(i), method: 'GET', operation: 'GetObject', bucket: 'b', key: 'ü' + i,
        status: 200, bytesIn: 0, bytesOut: i, durationMs: 0.5, outcome: 'ok' });
    process.exit(0);
  `);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    r.lines.map((l) => (l.access as { key: string }).key),
    ['ü0', 'ü1', 'ü2', 'ü3', 'ü4'],
  );
});

void test('fatal lines go out at once, not with the next batch', () => {
  // pino's fatal() flushes synchronously when its stream can. The process then kills itself at
  // once, with no timer, async write or exit hook able to run: only that flush writes the line.
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { createLogger } = await import('./proxy/log.ts');
       const { pbkdf2 } = await import('node:crypto');
       const log = createLogger('info');
       log.info('started');
       await new Promise((r) => setTimeout(r, 400)); // the timer hands 'started' on
       // The libuv threadpool busy, as other requests' DNS, fs and crypto keep it: an
       // asynchronous write of the line would wait behind these and die with the process.
       for (let i = 0; i < 8; i++) pbkdf2('x', 'y', 2_000_000, 32, 'sha256', () => {});
       log.fatal('going down');
       process.kill(process.pid, 'SIGKILL');`,
    ],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(r.signal, 'SIGKILL');
  assert.match(r.stdout, /"level":60.*"msg":"going down"/);
});

void test('flushLog resolves once written, even when stdout is a slow reader', async () => {
  // The parent reads nothing for a while: the pipe fills, the child's writes wait (stdout is
  // non-blocking once touched). A flushLog that resolved before the write finished let
  // process.exit() drop the batch in flight and write later ones past it.
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `process.stdout;
       const { createLogger, flushLog, logAccess } = await import('./proxy/log.ts');
       const log = createLogger('info');
       for (let i = 0; i < 3000; i++) {
         logAccess(log, { requestId: String(i), method: 'GET', operation: 'GetObject', bucket: 'b',
           key: 'k'.repeat(200) + i, status: 200, bytesIn: 0, bytesOut: i, durationMs: 0.5, outcome: 'ok' });
         if (i % 100 === 99) await new Promise((r) => setImmediate(r));
       }
       await flushLog(log);
       process.exit(0);`,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  child.stdout.pause();
  await new Promise((r) => setTimeout(r, 1_500));
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stdout.resume();
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0);
  const lines = Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  assert.equal(lines.length, 3000, 'every line arrives');
  lines.forEach((l, i) =>
    assert.equal(
      (JSON.parse(l) as { access: { bytesOut: number } }).access.bytesOut,
      i,
      'whole and in order',
    ),
  );
});

void test('an access line is the line pino writes for log.info({ access }, "request")', async () => {
  const { createLogger, logAccess } = await import('../../../proxy/log.ts');
  const written: string[] = [];
  const log = createLogger('info', { write: (s: string) => void written.push(s) });
  const line = {
    requestId: 'R1',
    backendRequestId: undefined,
    method: 'PUT',
    operation: 'PutObject',
    bucket: 'b',
    key: 'dir/ä "q" \\ \u0001\ud800',
    status: 403,
    errorCode: 'AccessDenied',
    clientAuth: 'sigv4-header',
    payload: undefined,
    store: undefined,
    policy: 'deny:no-grant',
    backend: undefined,
    bytesIn: 0,
    bytesOut: 243,
    durationMs: 0.123,
    backendHeadersMs: undefined,
    outcome: 'error',
  };
  logAccess(log, line);
  log.info({ access: line }, 'request');
  assert.equal(written.length, 2);
  const withoutTime = (s: string) => s.replace(/"time":"[^"]*"/, '"time":"T"');
  assert.equal(withoutTime(written[0]!), withoutTime(written[1]!));
  assert.ok(written[0]!.endsWith('\n'));
  assert.deepEqual((JSON.parse(written[0]!) as { access: unknown }).access, JSON.parse(JSON.stringify(line)));

  const quiet = createLogger('warn', { write: (s: string) => void written.push(s) });
  logAccess(quiet, line);
  assert.equal(written.length, 2, 'no access line below the log level');
});

void test('a stdout that takes nothing holds a bounded queue: later lines are dropped whole and counted', async () => {
  // The parent does not read the child's stdout until the child has written 64 MB of lines.
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--input-type=module',
      '-e',
      `
      const { createLogger, droppedLogLines, LOG_QUEUE_MAX_BYTES } = await import('./proxy/log.ts');
      const log = createLogger('info');
      const pad = 'x'.repeat(1000);
      for (let i = 0; i < 64000; i++) {
        log.info({ i, pad }, 'line');
        if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 600)); // the flush timer's batches too
      globalThis.gc();
      const held = process.memoryUsage().arrayBuffers;
      process.stderr.write(JSON.stringify({ dropped: droppedLogLines(), held, max: LOG_QUEUE_MAX_BYTES }) + '\\n');
      `,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pause();
  let stderr = '';
  const stats = await new Promise<{ dropped: number; held: number; max: number }>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      const nl = stderr.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(stderr.slice(0, nl)) as { dropped: number; held: number; max: number });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before its report: ${stderr}`)));
  });
  assert.ok(stats.dropped > 0, 'lines were dropped');
  // Unbounded, all 64 MB stayed queued as Buffers.
  assert.ok(stats.held < 2 * stats.max, `${stats.held} bytes of buffers held`);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stdout.resume();
  await once(child, 'close');
  const lines = out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { i: number; msg: string });
  // Whole lines only, in order, and every line either written or counted as dropped.
  assert.equal(lines.length + stats.dropped, 64000);
  for (let k = 1; k < lines.length; k++) assert.ok(lines[k]!.i > lines[k - 1]!.i, 'in order');
});

void test('a fatal line behind a full queue is written, not dropped with the last batch', async () => {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
      const { createLogger, droppedLogLines } = await import('./proxy/log.ts');
      const log = createLogger('info');
      const pad = 'x'.repeat(1000);
      for (let i = 0; i < 12000; i++) {
        log.info({ i, pad }, 'line');
        if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 400));
      // Small batches until one is dropped: the queue is full to within a line.
      const before = droppedLogLines();
      for (let k = 0; droppedLogLines() === before && k < 20000; k++) {
        log.info({ k }, 'fill');
        log.flush();
      }
      process.stderr.write('full ' + (droppedLogLines() > before) + '\\n');
      log.info({ pad }, 'pending');
      log.fatal('FATAL-LINE');
      process.exit(3);
      `,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pause();
  let stderr = '';
  let out = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    // Read only once the queue is full; fatal() then waits for this reader.
    if (stderr.includes('\n') && !child.stdout.listenerCount('data')) {
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stdout.resume();
    }
  });
  const [code] = (await once(child, 'close')) as [number];
  assert.equal(code, 3, stderr);
  assert.match(stderr, /^full true$/m);
  const last = out.trimEnd().split('\n').at(-1)!;
  assert.match(last, /"level":60.*"msg":"FATAL-LINE"/);
});
