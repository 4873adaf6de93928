/**
 * values.schema.json is strict: helm refuses bad values before rendering anything, naming the
 * offending path. Each case asserts helm's own message, so a schema that stops checking fails.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LOG_LEVELS } from '../../../operator/webhook/config.ts';
import { CHART_DIR, helm, templateArgs } from './helm.ts';

/** [what, values, expected message] */
const REJECTED: [string, Record<string, unknown>, RegExp][] = [
  [
    'failurePolicy Maybe',
    { 'webhook.failurePolicy': 'Maybe' },
    /at '\/webhook\/failurePolicy': value must be one of 'Fail', 'Ignore'/,
  ],
  [
    'timeout above the API server maximum',
    { 'webhook.timeoutSeconds': 31 },
    /at '\/webhook\/timeoutSeconds': maximum: got 31, want 30/,
  ],
  // The webhook's own API calls may take 4 s each, one after the other: a shorter timeout refuses pods when they are slow.
  [
    'timeout below 9',
    { 'webhook.timeoutSeconds': 8 },
    /at '\/webhook\/timeoutSeconds': minimum: got 8, want 9/,
  ],
  [
    'unknown TLS mode',
    { 'tls.mode': 'vault' },
    /at '\/tls\/mode': value must be one of 'self-signed', 'cert-manager'/,
  ],
  [
    'unknown hostNetwork policy',
    { 'webhook.hostNetwork': 'allow' },
    /at '\/webhook\/hostNetwork': value must be one of 'refuse', 'skip'/,
  ],
  ['a typo at the top level', { replica: 3 }, /at '': additional properties 'replica' not allowed/],
  [
    'a typo under webhook',
    { 'webhook.failurePolicyy': 'Fail' },
    /at '\/webhook': additional properties 'failurePolicyy' not allowed/,
  ],
  [
    'a typo under operator',
    { 'operator.replica': 3 },
    /at '\/operator': additional properties 'replica' not allowed/,
  ],
  ['zero replicas', { 'operator.replicas': 0 }, /at '\/operator\/replicas': minimum: got 0, want 1/],
  [
    'a CPU that is not a quantity',
    { 'sidecar.resources': { requests: { cpu: 'lots' } } },
    /at '\/sidecar\/resources\/requests\/cpu'/,
  ],
  [
    'an unknown resources key',
    { 'operator.resources': { request: {} } },
    /at '\/operator\/resources': additional properties 'request' not allowed/,
  ],
  [
    'a log level pino does not have',
    { 'sidecar.logLevel': 'verbose' },
    /at '\/sidecar\/logLevel': value must be one of/,
  ],
  [
    'a lease duration that is not a duration',
    { 'operator.leaderElection.leaseDuration': '15' },
    /at '\/operator\/leaderElection\/leaseDuration'/,
  ],
  [
    'a port out of range',
    { 'operator.ports.webhook': 70000 },
    /at '\/operator\/ports\/webhook': maximum: got 70,000, want 65,535/,
  ],
  ['a plain-http webhook url', { 'webhook.url': 'http://127.0.0.1:9443/mutate' }, /at '\/webhook\/url'/],
  ['a digest that is not sha256', { 'image.digest': 'latest' }, /at '\/image\/digest'/],
  ['an empty image repository', { 'image.repository': '' }, /at '\/image\/repository'/],
  [
    'a ServiceMonitor switch that is a string',
    { 'metrics.serviceMonitor.enabled': 'yes' },
    /at '\/metrics\/serviceMonitor\/enabled': got string, want boolean/,
  ],
];

void describe("values.schema.json rejects bad values with helm's message", () => {
  for (const [what, values, message] of REJECTED) {
    void test(what, () => {
      const run = helm(templateArgs({ values }));
      assert.notEqual(run.status, 0, `helm accepted ${JSON.stringify(values)}`);
      assert.match(run.stderr, /values don't meet the specifications of the schema\(s\)/);
      assert.match(run.stderr, message);
    });
  }
});

void describe('values.schema.json', () => {
  void test('accepts values.yaml itself and documents every key it defines', () => {
    // helm validates the defaults on every render; the schema must not silently allow keys the
    // chart does not know (additionalProperties false on every object it defines).
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as SchemaNode;
    const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const open: string[] = [];
    walk(schema, '', (path, node) => {
      if (node.type === 'object' && node.properties && node.additionalProperties !== false) open.push(path);
    });
    assert.deepEqual(open, [], 'objects with properties but additionalProperties not false');
    const missing: string[] = [];
    walkValues(values, '', schema, missing);
    assert.deepEqual(missing, [], 'values.yaml keys absent from the schema');
  });
});

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  $defs?: Record<string, SchemaNode>;
  $ref?: string;
}

function walk(node: SchemaNode, path: string, visit: (path: string, node: SchemaNode) => void): void {
  visit(path, node);
  for (const [k, child] of Object.entries(node.properties ?? {})) walk(child, `${path}/${k}`, visit);
  for (const [k, child] of Object.entries(node.$defs ?? {})) walk(child, `#/$defs/${k}`, visit);
}

function walkValues(values: unknown, path: string, node: SchemaNode, missing: string[]): void {
  if (typeof values !== 'object' || values === null || Array.isArray(values) || !node.properties) return;
  for (const [k, v] of Object.entries(values)) {
    const child = node.properties[k];
    if (!child) missing.push(`${path}/${k}`);
    else walkValues(v, `${path}/${k}`, child, missing);
  }
}

void test('helm lint applies the schema too', () => {
  const run = helm(['lint', CHART_DIR, '--set', 'webhook.failurePolicy=Maybe']);
  assert.notEqual(run.status, 0);
  assert.match(run.stdout + run.stderr, /value must be one of 'Fail', 'Ignore'/);
});

void test('log levels are exactly the ones the operator and sidecar accept', () => {
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as {
    $defs: { logLevel: { enum: string[] } };
  };
  assert.deepEqual(schema.$defs.logLevel.enum, [...LOG_LEVELS]);
});
