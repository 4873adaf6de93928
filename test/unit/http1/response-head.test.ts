import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamError } from '../../../proxy/http1/errors.ts';
import { parseResponseHead } from '../../../proxy/http1/response-head.ts';

// parseResponseHead gets the head without its final blank line, lines joined by CRLF.

function head(...lines: string[]): string {
  return lines.join('\r\n');
}

function assertProtocol(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UpstreamError, `not an UpstreamError: ${String(err)}`);
    assert.equal(err.code, 'PROTOCOL');
    assert.match(err.message, message);
    return true;
  });
}

void describe('status line', () => {
  void test('HTTP/1.1 with a reason phrase', () => {
    const h = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 0'), 'GET');
    assert.equal(h.minor, 1);
    assert.equal(h.status, 200);
    assert.equal(h.statusMessage, 'OK');
  });

  void test('HTTP/1.0 with a reason phrase of several words', () => {
    const h = parseResponseHead(head('HTTP/1.0 404 Not Found Here', 'Content-Length: 0'), 'GET');
    assert.equal(h.minor, 0);
    assert.equal(h.status, 404);
    assert.equal(h.statusMessage, 'Not Found Here');
  });

  void test('without a reason phrase, with and without the space after the code', () => {
    for (const line of ['HTTP/1.1 503', 'HTTP/1.1 503 ']) {
      const h = parseResponseHead(head(line, 'Content-Length: 0'), 'GET');
      assert.equal(h.status, 503, line);
      assert.equal(h.statusMessage, '', line);
    }
  });

  void test('a head that is only a status line has no headers', () => {
    const h = parseResponseHead('HTTP/1.1 204 No Content', 'GET');
    assert.deepEqual(h.raw, []);
    assert.deepEqual(h.headers, {});
  });

  void test('bad status lines are PROTOCOL errors', () => {
    for (const line of [
      'HTTP/2 200 OK',
      'HTTP/1.2 200 OK',
      'http/1.1 200 OK',
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 099 OK',
      'HTTP/1.1  200 OK',
      'ICY 200 OK',
      '',
    ]) {
      assertProtocol(() => parseResponseHead(head(line, 'Content-Length: 0'), 'GET'), /status line/);
    }
  });
});

void describe('header lines', () => {
  void test('raw keeps names with their case, values trimmed, in order, repeats included', () => {
    const h = parseResponseHead(
      head(
        'HTTP/1.1 200 OK',
        'X-Amz-Request-Id: abc',
        'content-length:  3 ',
        'X-Multi: one',
        'ETag: "e"',
        'x-multi: two',
      ),
      'GET',
    );
    assert.deepEqual(h.raw, [
      'X-Amz-Request-Id',
      'abc',
      'content-length',
      '3',
      'X-Multi',
      'one',
      'ETag',
      '"e"',
      'x-multi',
      'two',
    ]);
  });

  void test('lookup is by lower-cased name, repeats joined with ", "', () => {
    const h = parseResponseHead(
      head('HTTP/1.1 200 OK', 'X-Multi: one', 'Content-Length: 3', 'X-MULTI: two', 'x-multi: three'),
      'GET',
    );
    assert.deepEqual(h.headers, { 'x-multi': 'one, two, three', 'content-length': '3' });
  });

  void test('an empty value and a value with inner spaces, tabs and obs-text are kept', () => {
    const h = parseResponseHead(
      head('HTTP/1.1 200 OK', 'X-Empty:', 'X-Text: a \tb\xe9c', 'Content-Length: 0'),
      'GET',
    );
    assert.equal(h.headers['x-empty'], '');
    assert.equal(h.headers['x-text'], 'a \tb\xe9c');
  });

  void test('an obs-fold continuation line is a PROTOCOL error', () => {
    for (const fold of [' continued', '\tcontinued']) {
      assertProtocol(
        () => parseResponseHead(head('HTTP/1.1 200 OK', 'X-A: one', fold, 'Content-Length: 0'), 'GET'),
        /header/,
      );
    }
  });

  void test('whitespace before the colon is a PROTOCOL error', () => {
    assertProtocol(
      () => parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length : 0'), 'GET'),
      /header name/,
    );
    assertProtocol(() => parseResponseHead(head('HTTP/1.1 200 OK', 'X-A\t: 1'), 'GET'), /header name/);
  });

  void test('a line without a name or without a colon is a PROTOCOL error', () => {
    assertProtocol(() => parseResponseHead(head('HTTP/1.1 200 OK', ': value'), 'GET'), /header line/);
    assertProtocol(() => parseResponseHead(head('HTTP/1.1 200 OK', 'NoColonHere'), 'GET'), /header line/);
    // An empty line inside the head (what a stray CRLF would make) is not a header.
    assertProtocol(
      () => parseResponseHead(head('HTTP/1.1 200 OK', '', 'Content-Length: 0'), 'GET'),
      /header line/,
    );
  });

  void test('a name with a non-token character is a PROTOCOL error', () => {
    for (const name of ['X(A)', 'X/A', 'X"A', 'X@A', 'X\xe9A', 'X\x01A', 'X,A']) {
      assertProtocol(() => parseResponseHead(head('HTTP/1.1 200 OK', `${name}: 1`), 'GET'), /header name/);
    }
  });

  void test('a control character in a value is a PROTOCOL error (tab is allowed)', () => {
    for (const value of ['a\0b', 'a\x01b', 'a\rb', 'a\nb', 'a\x1bb', 'a\x7fb', 'a\x08b']) {
      assertProtocol(
        () => parseResponseHead(head('HTTP/1.1 200 OK', `X-Bad: ${value}`), 'GET'),
        /bad value of X-Bad/,
      );
    }
    assert.equal(parseResponseHead(head('HTTP/1.1 200 OK', 'X-Ok: a\tb'), 'GET').headers['x-ok'], 'a\tb');
  });
});

void describe('body framing and keep-alive', () => {
  void test('a response to HEAD has no body whatever its headers say', () => {
    for (const framing of ['Content-Length: 100', 'Transfer-Encoding: chunked', 'X-None: 1']) {
      const h = parseResponseHead(head('HTTP/1.1 200 OK', framing), 'HEAD');
      assert.deepEqual(h.framing, { kind: 'none' }, framing);
      assert.equal(h.keepAlive, true, framing);
    }
  });

  void test('1xx, 204 and 304 have no body', () => {
    for (const status of [100, 103, 204, 304]) {
      const h = parseResponseHead(head(`HTTP/1.1 ${status} X`, 'Content-Length: 10'), 'GET');
      assert.deepEqual(h.framing, { kind: 'none' }, String(status));
      assert.equal(h.keepAlive, true, String(status));
    }
  });

  void test('Content-Length gives a length-delimited body on a keep-alive connection', () => {
    const h = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 1234567'), 'GET');
    assert.deepEqual(h.framing, { kind: 'length', length: 1234567 });
    assert.equal(h.keepAlive, true);
    assert.deepEqual(parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 0'), 'GET').framing, {
      kind: 'length',
      length: 0,
    });
  });

  void test('repeated identical Content-Length values count as one', () => {
    const inOneLine = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 5, 5'), 'GET');
    assert.deepEqual(inOneLine.framing, { kind: 'length', length: 5 });
    const inTwoLines = parseResponseHead(
      head('HTTP/1.1 200 OK', 'Content-Length: 5', 'content-length: 5'),
      'GET',
    );
    assert.deepEqual(inTwoLines.framing, { kind: 'length', length: 5 });
  });

  void test('conflicting Content-Length values are a PROTOCOL error', () => {
    assertProtocol(
      () => parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 6'), 'GET'),
      /conflicting Content-Length/,
    );
    assertProtocol(
      () => parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 5,6'), 'GET'),
      /conflicting Content-Length/,
    );
  });

  void test('a Content-Length that is not a decimal number is a PROTOCOL error', () => {
    for (const v of ['-1', '0x10', '1e3', 'abc', '', '5,', '1234567890123456', '+5']) {
      assertProtocol(
        () => parseResponseHead(head('HTTP/1.1 200 OK', `Content-Length: ${v}`), 'GET'),
        /bad Content-Length/,
      );
    }
  });

  void test('Transfer-Encoding chunked gives a chunked body (any case)', () => {
    for (const te of ['chunked', 'Chunked', ' chunked ']) {
      const h = parseResponseHead(head('HTTP/1.1 200 OK', `Transfer-Encoding: ${te}`), 'GET');
      assert.deepEqual(h.framing, { kind: 'chunked' }, te);
      assert.equal(h.keepAlive, true, te);
    }
  });

  void test('Transfer-Encoding with Content-Length: chunked wins and the connection is not reused', () => {
    for (const order of [
      ['Transfer-Encoding: chunked', 'Content-Length: 10'],
      ['Content-Length: 10', 'Transfer-Encoding: chunked'],
    ]) {
      const h = parseResponseHead(head('HTTP/1.1 200 OK', ...order), 'GET');
      assert.deepEqual(h.framing, { kind: 'chunked' });
      assert.equal(h.keepAlive, false);
    }
  });

  void test('a transfer coding other than chunked is refused (it would reach the client applied and unannounced)', () => {
    for (const te of ['gzip', 'gzip, chunked', 'chunked, gzip', 'chunked, chunked']) {
      assertProtocol(
        () => parseResponseHead(head('HTTP/1.1 200 OK', `Transfer-Encoding: ${te}`), 'GET'),
        /unsupported transfer coding/,
      );
    }
  });

  void test('Transfer-Encoding: identity (RFC 2616) is no coding: framed as without the header', () => {
    const withLength = parseResponseHead(
      head('HTTP/1.1 200 OK', 'Transfer-Encoding: identity', 'Content-Length: 5'),
      'GET',
    );
    assert.deepEqual(withLength.framing, { kind: 'length', length: 5 });
    const without = parseResponseHead(head('HTTP/1.1 200 OK', 'Transfer-Encoding: identity'), 'GET');
    assert.deepEqual(without.framing, { kind: 'close' });
  });

  void test('Transfer-Encoding in an HTTP/1.0 response: chunked, and the connection is not reused', () => {
    const h = parseResponseHead(
      head('HTTP/1.0 200 OK', 'Connection: keep-alive', 'Transfer-Encoding: chunked'),
      'GET',
    );
    assert.deepEqual(h.framing, { kind: 'chunked' });
    assert.equal(h.keepAlive, false);
  });

  void test('no length and no chunking: read to close, not keep-alive', () => {
    const h = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Type: text/plain'), 'GET');
    assert.deepEqual(h.framing, { kind: 'close' });
    assert.equal(h.keepAlive, false);
  });

  void test('Connection: close on HTTP/1.1 ends keep-alive (token in a list, any case)', () => {
    for (const c of ['close', 'Close', 'keep-alive, close', 'Upgrade,CLOSE']) {
      const h = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 0', `Connection: ${c}`), 'GET');
      assert.equal(h.keepAlive, false, c);
      assert.deepEqual(h.framing, { kind: 'length', length: 0 }, c);
    }
    const other = parseResponseHead(
      head('HTTP/1.1 200 OK', 'Content-Length: 0', 'Connection: closed'),
      'GET',
    );
    assert.equal(other.keepAlive, true, 'a token that only starts with close');
  });

  void test('HTTP/1.0 is keep-alive only with Connection: keep-alive', () => {
    const plain = parseResponseHead(head('HTTP/1.0 200 OK', 'Content-Length: 3'), 'GET');
    assert.equal(plain.keepAlive, false);
    const ka = parseResponseHead(
      head('HTTP/1.0 200 OK', 'Content-Length: 3', 'Connection: Keep-Alive'),
      'GET',
    );
    assert.equal(ka.keepAlive, true);
    assert.deepEqual(ka.framing, { kind: 'length', length: 3 });
    const both = parseResponseHead(
      head('HTTP/1.0 200 OK', 'Content-Length: 3', 'Connection: keep-alive, close'),
      'GET',
    );
    assert.equal(both.keepAlive, false);
    const noLength = parseResponseHead(head('HTTP/1.0 200 OK', 'Connection: keep-alive'), 'GET');
    assert.deepEqual(noLength.framing, { kind: 'close' });
    assert.equal(noLength.keepAlive, false);
  });
});

void describe('Keep-Alive: timeout hint', () => {
  const hint = (...lines: string[]): number | undefined =>
    parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 0', ...lines), 'GET').keepAliveTimeoutMs;
  void test('timeout=N in seconds, with other parameters, any case and spacing', () => {
    assert.equal(hint('Keep-Alive: timeout=5'), 5000);
    assert.equal(hint('Keep-Alive: timeout=5, max=1000'), 5000);
    assert.equal(hint('keep-alive: max=100, Timeout = 75'), 75_000);
  });
  void test('repeated headers: the smallest timeout', () => {
    assert.equal(hint('Keep-Alive: timeout=30', 'Keep-Alive: timeout=1'), 1000);
  });
  void test('no header, no timeout parameter, or not a number: no hint', () => {
    assert.equal(hint(), undefined);
    assert.equal(hint('Keep-Alive: max=100'), undefined);
    assert.equal(hint('Keep-Alive: timeout=abc'), undefined);
    assert.equal(hint('Keep-Alive: idletimeout=5'), undefined);
  });
  void test('a connection that closes after this response takes no hint', () => {
    assert.equal(hint('Connection: close', 'Keep-Alive: timeout=5'), undefined);
  });
});

void describe('the headers the request path reads without the record', () => {
  void test('x-amz-request-id, Content-Length and hop-by-hop presence, in any case', () => {
    const h = parseResponseHead(
      head('HTTP/1.1 200 OK', 'X-AMZ-Request-Id: r1', 'content-LENGTH: 3', 'ETag: "e"'),
      'GET',
    );
    assert.equal(h.requestId, 'r1');
    assert.equal(h.contentLength, '3');
    assert.equal(h.hasHopByHop, false);
    for (const hop of [
      'Connection: keep-alive',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Trailer: x',
      'Upgrade: h2c',
      'Proxy-Connection: x',
      'Transfer-Encoding: chunked',
    ]) {
      const withHop = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 0', hop), 'GET');
      assert.equal(withHop.hasHopByHop, true, hop);
    }
  });

  void test('repeats are joined as the record joins them', () => {
    const h = parseResponseHead(
      head(
        'HTTP/1.1 200 OK',
        'x-amz-request-id: a',
        'Content-Length: 5',
        'X-Amz-Request-Id: b',
        'content-length: 5',
      ),
      'GET',
    );
    assert.equal(h.requestId, 'a, b');
    assert.equal(h.requestId, h.headers['x-amz-request-id']);
    assert.equal(h.contentLength, h.headers['content-length']);
    assert.deepEqual(h.framing, { kind: 'length', length: 5 });
  });

  void test('only spaces and tabs around a value are dropped; other control bytes there are errors', () => {
    assert.equal(parseResponseHead(head('HTTP/1.1 200 OK', 'X-A: \t v \t'), 'GET').headers['x-a'], 'v');
    for (const value of ['v\x0b', '\x0cv', 'v\x1f']) {
      assertProtocol(
        () => parseResponseHead(head('HTTP/1.1 200 OK', `X-A: ${value}`), 'GET'),
        /bad value of X-A/,
      );
    }
    // obs-text at the ends is part of the value (latin1 0xa0 is not whitespace here).
    assert.equal(
      parseResponseHead(head('HTTP/1.1 200 OK', 'X-A: \xa0v\xa0'), 'GET').headers['x-a'],
      '\xa0v\xa0',
    );
  });
});
