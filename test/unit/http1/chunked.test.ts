import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ChunkedDecoder } from '../../../proxy/http1/chunked.ts';
import { UpstreamError } from '../../../proxy/http1/errors.ts';

interface Decoded {
  payload: Buffer;
  /** Index into the whole input just past the body, or -1 if it never ended. */
  end: number;
  /** Payload views handed out, to check they are views of the input (not copies). */
  views: Buffer[];
}

/** Feeds `input` to a fresh decoder in slices cut at `cuts` (sorted indexes into input). */
function decodeIn(input: Buffer, cuts: number[] = []): Decoded {
  const dec = new ChunkedDecoder();
  const parts: Buffer[] = [];
  const views: Buffer[] = [];
  const bounds = [0, ...cuts, input.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    // Each slice in its own buffer, with junk around it so start/end offsets matter.
    const slice = input.subarray(bounds[k], bounds[k + 1]);
    const buf = Buffer.concat([Buffer.from('##'), slice, Buffer.from('%%')]);
    const ret = dec.decode(buf, 2, 2 + slice.length, (b) => {
      assert.equal(b.buffer, buf.buffer, 'payload is a view of the input');
      views.push(b);
      parts.push(Buffer.from(b));
    });
    if (ret >= 0) return { payload: Buffer.concat(parts), end: bounds[k]! + ret - 2, views };
  }
  return { payload: Buffer.concat(parts), end: -1, views };
}

function chunked(...chunks: (string | Buffer)[]): Buffer {
  const out: Buffer[] = [];
  for (const c of chunks) {
    const b = Buffer.from(c);
    out.push(Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(out);
}

function assertFraming(input: string, message: RegExp): void {
  assert.throws(
    () => new ChunkedDecoder().decode(Buffer.from(input, 'latin1'), 0, input.length, () => {}),
    (err: unknown) => {
      assert.ok(err instanceof UpstreamError, `not an UpstreamError: ${String(err)}`);
      assert.equal(err.code, 'PROTOCOL');
      assert.match(err.message, message);
      return true;
    },
  );
}

/** Feeds `input` one byte at a time; the error must come at or before the last byte. */
function assertFramingByteWise(input: string, message: RegExp): void {
  const dec = new ChunkedDecoder();
  const buf = Buffer.from(input, 'latin1');
  assert.throws(() => {
    for (let i = 0; i < buf.length; i++) dec.decode(buf, i, i + 1, () => {});
  }, message);
}

void describe('ChunkedDecoder: splitting', () => {
  const random = randomBytes(3000);
  const body = Buffer.concat([
    chunked('hello', ' ', Buffer.alloc(0x1a, 'x'), random.subarray(0, 1000), random.subarray(1000)),
    Buffer.from('HTTP/1.1 200 OK\r\n'),
  ]);
  const bodyEnd = body.length - 'HTTP/1.1 200 OK\r\n'.length;
  const expected = Buffer.concat([Buffer.from('hello '), Buffer.alloc(0x1a, 'x'), random]);

  void test('a body fed whole: payload, and the index just past the last chunk', () => {
    const whole = decodeIn(body);
    assert.deepEqual(whole.payload, expected);
    assert.equal(whole.end, bodyEnd);
    // One view per chunk when the input is contiguous: payload is never copied or merged.
    assert.equal(whole.views.length, 5);
  });

  void test('the same body fed one byte at a time', () => {
    const cuts = Array.from({ length: body.length - 1 }, (_, i) => i + 1);
    const bytewise = decodeIn(body, cuts);
    assert.deepEqual(bytewise.payload, expected);
    assert.equal(bytewise.end, bodyEnd);
  });

  void test('the same body split in two at every point', () => {
    // Up to the body's end plus one: cuts after it must not change where the body ends.
    for (let cut = 1; cut <= bodyEnd + 1; cut++) {
      const split = decodeIn(body, [cut]);
      assert.equal(split.end, bodyEnd, `cut at ${cut}`);
      assert.ok(split.payload.equals(expected), `payload with a cut at ${cut}`);
    }
  });

  void test('the same body split in three at random points', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let n = 0; n < 300; n++) {
      const a = 1 + rand(bodyEnd - 1);
      const b = a + 1 + rand(body.length - a - 1);
      const split = decodeIn(body, [a, b]);
      assert.equal(split.end, bodyEnd, `cuts at ${a}, ${b}`);
      assert.ok(split.payload.equals(expected), `payload with cuts at ${a}, ${b}`);
    }
  });

  void test('returns -1 until the last CRLF of the body is in', () => {
    const b = chunked('abc');
    assert.equal(decodeIn(b.subarray(0, b.length - 1)).end, -1);
    assert.equal(decodeIn(b).end, b.length);
  });

  void test('upper- and lower-case hex and leading zeros', () => {
    const data = Buffer.alloc(0xab, 'q');
    for (const size of ['ab', 'AB', 'aB', '00ab']) {
      const input = Buffer.concat([Buffer.from(`${size}\r\n`), data, Buffer.from('\r\n0\r\n\r\n')]);
      const out = decodeIn(input);
      assert.deepEqual(out.payload, data, size);
      assert.equal(out.end, input.length, size);
    }
  });
});

void describe('ChunkedDecoder: extensions and trailers', () => {
  void test('chunk extensions (also on the last chunk, with quoted values and whitespace) are skipped', () => {
    const input = Buffer.from(
      '5;name=value\r\nhello\r\n' + '1 ;a;b="x;y"\r\n!\r\n' + '3\t;ext\r\nabc\r\n' + '0;last=1\r\n\r\n',
      'latin1',
    );
    for (const cuts of [[], Array.from({ length: input.length - 1 }, (_, i) => i + 1)]) {
      const out = decodeIn(input, cuts);
      assert.equal(out.payload.toString(), 'hello!abc');
      assert.equal(out.end, input.length);
    }
  });

  void test('trailers are read and dropped; the body ends after the blank line', () => {
    const input = Buffer.from('3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-Other: a b\r\n\r\nNEXT', 'latin1');
    for (const cuts of [[], Array.from({ length: input.length - 1 }, (_, i) => i + 1)]) {
      const out = decodeIn(input, cuts);
      assert.equal(out.payload.toString(), 'abc');
      assert.equal(out.end, input.length - 4);
    }
  });

  void test('bytes after the body are left alone: the index points at them', () => {
    const body = chunked('data');
    const input = Buffer.concat([body, Buffer.from('5\r\nXXXXX\r\n0\r\n\r\n')]);
    const out = decodeIn(input);
    assert.equal(out.payload.toString(), 'data');
    assert.equal(out.end, body.length);
    assert.equal(input[out.end], '5'.charCodeAt(0));
  });

  void test('an empty body (only the last chunk)', () => {
    const out = decodeIn(Buffer.from('0\r\n\r\n'));
    assert.equal(out.payload.length, 0);
    assert.equal(out.end, 5);
  });

  void test('the decoder is ready for the next body after one ended', () => {
    const dec = new ChunkedDecoder();
    const got: string[] = [];
    const a = Buffer.from('2\r\nab\r\n0\r\n\r\n');
    const b = Buffer.from('3\r\ncde\r\n0\r\n\r\n');
    assert.equal(
      dec.decode(a, 0, a.length, (v) => got.push(v.toString())),
      a.length,
    );
    assert.equal(
      dec.decode(b, 0, b.length, (v) => got.push(v.toString())),
      b.length,
    );
    assert.deepEqual(got, ['ab', 'cde']);
  });
});

void describe('ChunkedDecoder: bad framing', () => {
  void test('a size that is not hex', () => {
    assertFraming('g\r\n', /missing chunk size/);
    assertFraming('\r\n', /missing chunk size/);
    assertFraming('-1\r\n', /missing chunk size/);
    assertFraming('1g\r\nx\r\n', /bad chunk size/);
    assertFraming('0x5\r\nhello\r\n', /bad chunk size/);
  });

  void test('data not followed by CRLF', () => {
    assertFraming('3\r\nabcd\r\n0\r\n\r\n', /expected CRLF after chunk data/);
    assertFraming('3\r\nabc\rX0\r\n\r\n', /expected CRLF after chunk data/);
    assertFraming('3\r\nabc\n0\r\n\r\n', /expected CRLF after chunk data/);
    assertFramingByteWise('3\r\nabcd\r\n', /expected CRLF after chunk data/);
  });

  void test('more than 13 hex digits in a size (leading zeros count too)', () => {
    assertFraming(`${'f'.repeat(14)}\r\n`, /chunk size too large/);
    assertFraming(`${'0'.repeat(14)}\r\n`, /chunk size too large/);
    // 13 digits are accepted: the decoder then waits for that much data.
    const ok = new ChunkedDecoder();
    const input = Buffer.from(`${'0'.repeat(12)}1\r\nz\r\n0\r\n\r\n`);
    assert.equal(
      ok.decode(input, 0, input.length, () => {}),
      input.length,
    );
    assertFramingByteWise(`${'1'.repeat(14)}\r\n`, /chunk size too large/);
  });

  void test('bare LF instead of CRLF', () => {
    assertFraming('3\nabc\r\n0\r\n\r\n', /bad chunk size/);
    assertFraming('3\r\rabc', /expected LF after chunk size/);
    assertFraming('3;ext\nabc\r\n', /bad chunk extension/);
    assertFraming('3\r\nabc\r\n0\r\nX-T: 1\n\r\n', /bad trailer/);
    assertFraming('3\r\nabc\r\n0\r\n\n', /bad trailer/);
    assertFraming('3\r\nabc\r\n0\r\nX-T: 1\r\r\n', /expected LF in trailers/);
    assertFramingByteWise('3\nabc\r\n0\r\n\r\n', /bad chunk size/);
  });

  void test('overlong extension and trailer lines', () => {
    assertFraming(`1;${'e'.repeat(5000)}\r\n`, /chunk extension too long/);
    assertFraming(`0\r\nX-T: ${'t'.repeat(5000)}\r\n\r\n`, /trailer too long/);
  });
});
