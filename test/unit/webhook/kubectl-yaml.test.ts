/**
 * `sluice inject`'s YAML (operator/inject/kubectl-yaml.ts): plain scalars read as kubectl reads
 * them (go-yaml v2), and strings written so that kubectl reads them back as strings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Document, parse } from 'yaml';
import { KUBECTL_YAML } from '../../../operator/inject/kubectl-yaml.ts';

// Plain scalar → what go-yaml v2 makes of it when decoding into interface{}.
const READ: [string, unknown][] = [
  ['0644', 0o644],
  ['-010', -8],
  ['0_7', 7],
  ['09', 9], // not octal: go-yaml falls back to a float, 9
  ['0x1F', 31],
  ['0X1F', 31],
  ['0o17', 15],
  ['0O17', 15],
  ['0b101', 5],
  ['1_000', 1000],
  ['0_', 0],
  ['0x_', '0x_'], // no digit after the prefix
  ['0_8', 8], // not octal: a float
  ['1_000.5', 1000.5],
  ['-_1', -1],
  ['yes', true],
  ['Off', false],
  ['n', false],
  ['Y', true],
  ['true', true],
  ['~', null],
  ['1.5', 1.5],
  ['e2', 'e2'], // a GKE machine family, not a float
  ['.', '.'],
  ['0:0', '0:0'], // not base 60
  ['1:20', '1:20'],
  ['2024-01-01T10:00:00+02:00', '2024-01-01T10:00:00+02:00'], // kept a string in interface{}
  ['YES!', 'YES!'],
];

void test('plain scalars are read as kubectl reads them', () => {
  for (const [text, want] of READ) assert.deepEqual(parse(`v: ${text}`, KUBECTL_YAML), { v: want }, text);
});

void test('a string is written so that it reads back as that string, quoted only where needed', () => {
  for (const [text] of READ) {
    const out = new Document({ v: text }, KUBECTL_YAML).toString();
    assert.deepEqual(parse(out, KUBECTL_YAML), { v: text }, `${text} written as ${out}`);
    const plain = out === `v: ${text}\n`;
    const readsAsString = typeof READ.find(([t]) => t === text)![1] === 'string';
    assert.equal(plain, readsAsString, `${text}: written ${out.trim()}`);
  }
});

void test('merge keys are resolved, as kubectl does', () => {
  const doc = parse('base: &b { a: 1 }\nm: { <<: *b, c: 2 }', KUBECTL_YAML) as { m: unknown };
  assert.deepEqual(doc.m, { a: 1, c: 2 });
});
