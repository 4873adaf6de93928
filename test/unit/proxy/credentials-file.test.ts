/**
 * Credential files are secrets: an error about one names the file and the problem, never its
 * content (V8's JSON.parse message quotes the text around the error).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readCredentialsFile } from '../../../proxy/credentials.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-creds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

void test('a raw key file mounted by mistake: the error names the file, not a byte of the key', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  for (const [name, text] of [
    ['raw', secret],
    ['unquoted', `{"accessKeyId": AKIA, "secretAccessKey": ${secret}}`],
    ['cut', `{"accessKeyId":"AKIA","secretAccessKey":"${secret}`],
  ] as const) {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, text);
    assert.throws(
      () => readCredentialsFile(file),
      (err: Error) => {
        assert.equal(err.message, `${file}: not valid JSON`);
        for (let i = 0; i + 4 <= secret.length; i++)
          assert.ok(!err.message.slice(file.length).includes(secret.slice(i, i + 4)));
        return true;
      },
    );
  }
});

void test('a valid file is read', () => {
  const file = join(dir, 'ok.json');
  writeFileSync(file, JSON.stringify({ accessKeyId: 'AKIA', secretAccessKey: 's', sessionToken: 't' }));
  assert.deepEqual(readCredentialsFile(file), {
    accessKeyId: 'AKIA',
    secretAccessKey: 's',
    sessionToken: 't',
  });
});

void test('a misspelt field is refused by name (a misspelt session token would be dropped); others pass', () => {
  const file = join(dir, 'typo.json');
  for (const typo of ['session_token', 'SessionToken', 'AccessKeyId']) {
    writeFileSync(file, JSON.stringify({ accessKeyId: 'AKIA', secretAccessKey: 's', [typo]: 't' }));
    assert.throws(
      () => readCredentialsFile(file),
      new RegExp(`typo\\.json: field "${typo}" should be spelt`),
    );
  }
  writeFileSync(
    file,
    JSON.stringify({ accessKeyId: 'AKIA', secretAccessKey: 's', expiration: '2026-12-07' }),
  );
  assert.deepEqual(readCredentialsFile(file), { accessKeyId: 'AKIA', secretAccessKey: 's' });
});
