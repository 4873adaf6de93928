import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAnnotations } from '../../../operator/webhook/annotations.ts';
import { InjectorConfigError, resolveInjectorConfig } from '../../../operator/webhook/config.ts';
import { parseQuantity } from '../../../operator/webhook/quantity.ts';
import { parseKubeVersion, supportsNativeSidecars } from '../../../operator/webhook/version.ts';

void describe('parseQuantity', () => {
  void test('Kubernetes quantity grammar', () => {
    assert.equal(parseQuantity('250m'), 0.25);
    assert.equal(parseQuantity('1'), 1);
    assert.equal(parseQuantity('1.5'), 1.5);
    assert.equal(parseQuantity('64Mi'), 64 * 2 ** 20);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('.5Gi'), 2 ** 29);
    for (const bad of ['', 'lots', '1 Gi', ' 1', '1mi', '1GiB', '--1', 'Mi'])
      assert.equal(parseQuantity(bad), undefined, bad);
  });
});

void describe('parseAnnotations', () => {
  const config = resolveInjectorConfig();
  void test('no annotations: the operator config', () => {
    const p = parseAnnotations({}, config);
    assert.deepEqual(p.problems, []);
    assert.deepEqual(p.warnings, []);
    assert.equal(p.settings.proxyPort, 7480);
    assert.deepEqual(p.settings.resources, config.resources);
    assert.notEqual(p.settings.resources.requests, config.resources.requests, 'copied, not shared');
  });
  void test('ports: 1024-65535, not the admin port', () => {
    for (const bad of ['80', '0', '65536', '7481', 'http', '1e4', '-1']) {
      assert.equal(parseAnnotations({ 'sluice.dev/proxy-port': bad }, config).problems.length, 1, bad);
    }
    assert.equal(parseAnnotations({ 'sluice.dev/proxy-port': '8080' }, config).settings.proxyPort, 8080);
  });
  void test('a request above its limit is a problem, also when one side comes from config', () => {
    const p = parseAnnotations({ 'sluice.dev/proxy-memory-request': '1Gi' }, config);
    assert.match(p.problems.join(), /memory limit 256Mi is below its request 1Gi/);
  });
  void test('containers list: trimmed, de-duplicated, names validated', () => {
    assert.deepEqual(parseAnnotations({ 'sluice.dev/containers': ' a, b ,a' }, config).settings.containers, [
      'a',
      'b',
    ]);
    assert.equal(parseAnnotations({ 'sluice.dev/containers': ' , ' }, config).problems.length, 1);
    assert.equal(parseAnnotations({ 'sluice.dev/containers': 'App_1' }, config).problems.length, 1);
  });
  void test('all problems are reported at once', () => {
    const p = parseAnnotations(
      { 'sluice.dev/log-level': 'loud', 'sluice.dev/cache-size': '-1Gi', 'sluice.dev/proxy-cpu-limit': 'x' },
      config,
    );
    assert.equal(p.problems.length, 3);
  });
});

void describe('resolveInjectorConfig', () => {
  void test('rejects nonsense at start', () => {
    assert.throws(() => resolveInjectorConfig({ proxyPort: 7481 }), InjectorConfigError);
    assert.throws(() => resolveInjectorConfig({ hostNetwork: 'allow' as 'skip' }), /hostNetwork/);
    assert.throws(
      () => resolveInjectorConfig({ imagePullPolicy: 'always' as 'Always' }),
      /imagePullPolicy: one of Always, IfNotPresent, Never/,
    );
    assert.throws(
      () => resolveInjectorConfig({ resources: { requests: { cpu: 'lots' }, limits: {} } }),
      /requests\.cpu/,
    );
    assert.throws(() => resolveInjectorConfig({ command: [] }), /command/);
    assert.equal(resolveInjectorConfig({ image: 'i:1' }).image, 'i:1');
  });
});

void describe('native sidecar detection', () => {
  void test('1.29 and later, provider suffixes included; unknown means no', () => {
    assert.equal(supportsNativeSidecars({ major: '1', minor: '29' }), true);
    assert.equal(supportsNativeSidecars({ major: '1', minor: '34+' }), true);
    assert.equal(supportsNativeSidecars({ major: '1', minor: '28' }), false);
    assert.equal(supportsNativeSidecars('v1.30.2'), true);
    assert.equal(supportsNativeSidecars('1.27'), false);
    assert.equal(supportsNativeSidecars({ major: '', minor: '' }), false);
    assert.equal(supportsNativeSidecars('latest'), false);
    assert.deepEqual(parseKubeVersion('v2.0'), { major: 2, minor: 0 });
  });
});
