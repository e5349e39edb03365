import { describe, it, expect } from 'vitest';
import { mayRetry, networkFailure, parseServers, savedServers, STORE_UNAVAILABLE, unreachedMessage } from './failover.js';

describe('server lists', () => {
  it.each([
    ['http://a:7070', ['http://a:7070']],
    ['http://a:7070/,https://b', ['http://a:7070', 'https://b']],
    [' http://a , http://b// ', ['http://a', 'http://b']],
    ['http://a,http://a/', ['http://a']],
    [['http://a', 'http://b/'], ['http://a', 'http://b']],
  ] as const)('%j is %j', (given, want) => {
    expect(parseServers(given)).toEqual(want);
  });

  it.each([
    ['notaurl', /^"notaurl" is not a server URL \(use e\.g\. http:\/\/127\.0\.0\.1:7070\)$/],
    ['http://a,ftp://b', /^"ftp:\/\/b" is not a server URL/],
    ['http://a,,http://b', /^an empty server URL in "http:\/\/a,,http:\/\/b"/],
    ['http://a,', /^an empty server URL/],
    ['', /^an empty server URL/],
  ])('refuses %j, naming the bad entry', (given, message) => {
    expect(() => parseServers(given)).toThrow(message);
  });

  it('saves one server as a string (as earlier versions read it), several as a list', () => {
    expect(savedServers(['http://a'])).toBe('http://a');
    expect(savedServers(['http://a', 'http://b'])).toEqual(['http://a', 'http://b']);
  });
});

describe('when a failed call may go to the next server', () => {
  // Reads change nothing: any failure moves on. Writes move on only when nothing was sent.
  it.each([
    ['GET', 'ECONNREFUSED', true],
    ['GET', 'ECONNRESET', true],
    ['GET', 'UND_ERR_SOCKET', true],
    ['GET', 'ANSWER_TIMEOUT', true],
    ['GET', STORE_UNAVAILABLE, true],
    ['HEAD', 'UNKNOWN', true],
    ['POST', 'ECONNREFUSED', true],
    ['PUT', 'EHOSTUNREACH', true],
    ['DELETE', 'ENOTFOUND', true],
    ['PATCH', 'EAI_AGAIN', true],
    ['POST', 'ENETUNREACH', true],
    ['POST', 'UND_ERR_CONNECT_TIMEOUT', true],
    ['POST', 'ECONNRESET', false],
    ['PUT', 'UND_ERR_SOCKET', false],
    ['DELETE', 'EPIPE', false],
    ['PATCH', 'ETIMEDOUT', false],
    ['POST', STORE_UNAVAILABLE, false],
    ['PUT', 'UNKNOWN', false],
  ])('%s after %s: %s', (method, code, want) => {
    expect(mayRetry(method, code)).toBe(want);
  });
});

describe('network failures', () => {
  it('reads the code from fetch\'s cause, a socket error, or an aggregate of them', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(networkFailure(new TypeError('fetch failed', { cause: refused }))).toEqual({ code: 'ECONNREFUSED', why: 'connection refused' });
    const closed = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(networkFailure(new TypeError('terminated', { cause: closed }))).toEqual({ code: 'UND_ERR_SOCKET', why: 'other side closed' });
    expect(networkFailure(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }))).toEqual({ code: 'ENOTFOUND', why: 'getaddrinfo ENOTFOUND x' });
    const both = Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'EHOSTUNREACH' })], 'all failed'));
    expect(networkFailure(new TypeError('fetch failed', { cause: both }))?.code).toBe('EHOSTUNREACH');
    expect(networkFailure(new Error('a bug'))).toBeUndefined();
    expect(networkFailure(new SyntaxError('Unexpected token'))).toBeUndefined();
  });

  it('names every server tried, and says when the others were left out', () => {
    const a = { server: 'http://a', code: 'ECONNREFUSED', why: 'connection refused' };
    const b = { server: 'http://b', code: 'ENOTFOUND', why: 'getaddrinfo ENOTFOUND b' };
    expect(unreachedMessage([a], false)).toBe('cannot reach the server at http://a: connection refused (is `stratus server` running?)');
    expect(unreachedMessage([a, b], false)).toBe('cannot reach the servers at http://a (connection refused), http://b (getaddrinfo ENOTFOUND b)');
    const reset = { server: 'http://a', code: 'ECONNRESET', why: 'read ECONNRESET' };
    expect(unreachedMessage([reset], true)).toBe('cannot reach the server at http://a: read ECONNRESET; not sent to another server: the request may have been applied');
  });
});
