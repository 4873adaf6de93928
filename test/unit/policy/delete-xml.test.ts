/** The DeleteObjects body parser against well-formed and hostile input. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DELETE_BODY_BYTES, parseDeleteBody } from '../../../proxy/policy/delete-xml.ts';
import { filterListBucketsXml } from '../../../proxy/policy/list-buckets.ts';

const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

function keys(xml: string): string[] {
  const r = parseDeleteBody(xml);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.objects.map((o) => o.key);
}

function refused(xml: string | Buffer, tooLarge = false): void {
  const r = parseDeleteBody(xml);
  assert.equal(r.ok, false, 'must be refused');
  if (!r.ok) assert.equal(r.tooLarge, tooLarge, r.message);
}

void describe('well-formed bodies', () => {
  void test('what the AWS SDK sends', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Delete ${NS}><Object><Key>a/b.txt</Key><VersionId>v1</VersionId></Object><Object><Key>c</Key></Object><Quiet>true</Quiet></Delete>`;
    const r = parseDeleteBody(Buffer.from(xml));
    assert.ok(r.ok);
    assert.equal(r.quiet, true);
    assert.deepEqual(r.objects, [
      { key: 'a/b.txt', versionId: 'v1' },
      { key: 'c', versionId: undefined },
    ]);
  });
  void test('predefined entities and character references', () => {
    assert.deepEqual(
      keys(
        '<Delete><Object><Key>a &amp; b &lt;c&gt; &quot;&apos; &#x41;&#66;&#x1F600;</Key></Object></Delete>',
      ),
      [`a & b <c> "' AB😀`],
    );
  });
  void test('whitespace in keys is kept; between elements it is ignored', () => {
    assert.deepEqual(keys('<Delete>\n  <Object>\n    <Key>  spaced  </Key>\n  </Object>\n</Delete>\n'), [
      '  spaced  ',
    ]);
  });
  void test('CDATA, comments and processing instructions as Go encoding/xml reads them', () => {
    assert.deepEqual(
      keys('<Delete><!-- c --><Object><Key><![CDATA[a<&>b]]></Key><?pi x?></Object></Delete>'),
      ['a<&>b'],
    );
    assert.deepEqual(keys('<Delete><Object><Key>x<!-- hidden -->y</Key></Object></Delete>'), ['xy']);
  });
  void test('line endings are normalised as XML requires; &#13; survives', () => {
    assert.deepEqual(keys('<Delete><Object><Key>a\r\nb\rc&#13;</Key></Object></Delete>'), ['a\nb\nc\r']);
  });
  void test('a UTF-8 BOM', () =>
    assert.deepEqual(keys('\uFEFF<Delete><Object><Key>k</Key></Object></Delete>'), ['k']));
  void test('optional elements of an Object', () => {
    assert.deepEqual(
      keys(
        '<Delete><Object><Key>k</Key><ETag>"e"</ETag><Size>3</Size><LastModifiedTime>x</LastModifiedTime></Object></Delete>',
      ),
      ['k'],
    );
  });
});

void describe('hostile bodies', () => {
  void test('billion laughs', () =>
    refused(
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><Delete><Object><Key>&lol2;</Key></Object></Delete>',
    ));
  void test('external entity', () =>
    refused(
      '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>',
    ));
  void test('undeclared entity', () => refused('<Delete><Object><Key>&foo;</Key></Object></Delete>'));
  void test('bare ampersand', () => refused('<Delete><Object><Key>a & b</Key></Object></Delete>'));
  void test('character reference to a non-XML character', () => {
    refused('<Delete><Object><Key>&#0;</Key></Object></Delete>');
    refused('<Delete><Object><Key>&#xD800;</Key></Object></Delete>');
    refused('<Delete><Object><Key>&#x110000;</Key></Object></Delete>');
  });
  void test('two keys in one Object (parsers disagree on which wins)', () =>
    refused('<Delete><Object><Key>team/a</Key><Key>secret/b</Key></Object></Delete>'));
  void test('markup inside a Key', () => refused('<Delete><Object><Key>a<b/>c</Key></Object></Delete>'));
  void test('namespace-prefixed elements', () =>
    refused('<s3:Delete xmlns:s3="x"><s3:Object><s3:Key>k</s3:Key></s3:Object></s3:Delete>'));
  void test('attributes where none belong', () => {
    refused('<Delete><Object><Key a="1">k</Key></Object></Delete>');
    refused('<Delete xmlns:x="y"><Object><Key>k</Key></Object></Delete>');
  });
  void test('unknown elements, nesting and stray text', () => {
    refused('<Delete><Object><Key>k</Key><Extra>1</Extra></Object></Delete>');
    refused('<Delete><Object><Object><Key>k</Key></Object></Object></Delete>');
    refused('<Delete><Key>k</Key></Delete>');
    refused('<Delete>junk<Object><Key>k</Key></Object></Delete>');
    refused('<Other><Object><Key>k</Key></Object></Other>');
    refused('<Delete><Object><Key>k</Key></Object></Delete><Delete><Object><Key>x</Key></Object></Delete>');
  });
  void test('truncated and mismatched documents', () => {
    refused('<Delete><Object><Key>k</Key></Object>');
    refused('<Delete><Object><Key>k</Object></Key></Delete>');
    refused('<Delete><Object><Key>k</Key></Object></Delete');
    refused('<Delete><!-- open');
    refused('<Delete><Object><Key><![CDATA[k</Key></Object></Delete>');
  });
  void test('empty key, empty Delete, bad Quiet', () => {
    refused('<Delete><Object><Key></Key></Object></Delete>');
    refused('<Delete><Object><Key/></Object></Delete>');
    refused('<Delete></Delete>');
    refused('<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>');
  });
  void test('not UTF-8', () => refused(Buffer.from([0x3c, 0x44, 0xff, 0xfe])));
  void test('over the size bound', () => refused(Buffer.alloc(MAX_DELETE_BODY_BYTES + 1, 0x20), true));
  void test('more than 1000 objects', () => {
    const objs = '<Object><Key>k</Key></Object>'.repeat(1001);
    refused(`<Delete>${objs}</Delete>`, true);
    assert.equal(keys(`<Delete>${'<Object><Key>k</Key></Object>'.repeat(1000)}</Delete>`).length, 1000);
  });
  void test('deep nesting does not recurse', () =>
    refused('<Delete>' + '<Object>'.repeat(100000) + '</Delete>'));
});

void describe('ListBuckets filter', () => {
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><Buckets><Bucket><Name>data</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket><Bucket><Name>secret</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket><Bucket><Name>public</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>';
  void test('keeps only granted buckets, everything else unchanged', () => {
    const out = filterListBucketsXml(xml, new Set(['data', 'public']))!;
    assert.ok(out.includes('<Name>data</Name>') && out.includes('<Name>public</Name>'));
    assert.ok(!out.includes('secret'));
    assert.ok(out.includes('<Owner><ID>o</ID></Owner>'));
    assert.ok(out.endsWith('</Buckets></ListAllMyBucketsResult>'));
  });
  void test('no grants → an empty list', () => {
    assert.ok(filterListBucketsXml(xml, new Set())!.includes('<Buckets></Buckets>'));
  });
  void test('a body that is not a bucket listing (compressed, an error) cannot be filtered', () => {
    assert.equal(filterListBucketsXml('\x1f\x8b\x08\x00garbled', new Set(['data'])), undefined);
    assert.equal(filterListBucketsXml('<Error><Code>X</Code></Error>', new Set(['data'])), undefined);
  });
});
