import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from './limits.ts';
import { documentBytes, isRefusal, operationPreparer, tokenCount, type Refusal } from './operation.ts';

const schema = buildSchema('type Query { a(n: Int): Int b: String }');
const limits = { ...defaultLimits, LIMIT_MAX_DOCUMENT_BYTES: 4096 };
/** A valid query of exactly `bytes` bytes, padded with comment lines (which the token cap does not count). */
const padded = (bytes: number, seed = 0, line = '#\n'): string => {
  const query = `{ a(n: ${seed}) }`;
  const room = bytes - Buffer.byteLength(query);
  return `${line.repeat(Math.floor(room / Buffer.byteLength(line)))}${'\n'.repeat(room % Buffer.byteLength(line))}${query}`;
};

describe('operationPreparer: document size', () => {
  const prepare = operationPreparer({ schema, limits, production: false });

  it('takes a document of exactly LIMIT_MAX_DOCUMENT_BYTES, comments and all', () => {
    const query = padded(4096);
    expect(Buffer.byteLength(query)).toBe(4096);
    expect(isRefusal(prepare({ query }, null))).toBe(false);
  });

  it('refuses one byte more with 413 DOCUMENT_TOO_LARGE, before parsing it', () => {
    const refusal = prepare({ query: padded(4097) }, null) as Refusal;
    expect(refusal.status).toBe(413);
    expect(refusal.errors.map((e) => e.extensions['code'])).toEqual(['DOCUMENT_TOO_LARGE']);
    // Not even a syntax error is reported: the text was never parsed.
    const broken = prepare({ query: `${'x'.repeat(5000)} {` }, null) as Refusal;
    expect(broken.errors.map((e) => e.extensions['code'])).toEqual(['DOCUMENT_TOO_LARGE']);
  });

  it('counts bytes, not characters', () => {
    // 1,366 three-byte characters: under 4,096 characters, over 4,096 bytes.
    const query = `# ${'€'.repeat(1366)}\n{ a }`;
    expect(query.length).toBeLessThan(4096);
    expect((prepare({ query }, null) as Refusal).errors[0]?.extensions['code']).toBe('DOCUMENT_TOO_LARGE');
  });
});

describe('operationPreparer: the document cache', () => {
  it('counts what a parsed document holds: its text and every token, comments included', () => {
    const plain = '{ a }';
    const commented = `${'#\n'.repeat(1000)}{ a }`;
    expect(tokenCount(parse(commented))).toEqual({ ast: 5, comments: 1000 }) // with <SOF> and <EOF>;
    expect(documentBytes(commented, parse(commented)) - documentBytes(plain, parse(plain))).toBeGreaterThanOrEqual(1000 * 100);
    const wide = `{ ${'a '.repeat(1000)}}`;
    expect(documentBytes(wide, parse(wide)) - documentBytes(plain, parse(plain))).toBeGreaterThan(1000 * 250);
  });

  it('stays under its byte bound however many distinct padded documents come', () => {
    const bound = 4 * 1024 * 1024;
    const prepare = operationPreparer({ schema, limits, production: false, documentCacheBytes: bound });
    for (let i = 0; i < 500; i++) {
      expect(isRefusal(prepare({ query: padded(4096, i) }, null))).toBe(false);
      expect(prepare.cacheStats().bytes).toBeLessThanOrEqual(bound);
    }
    const stats = prepare.cacheStats();
    expect(stats.maxBytes).toBe(bound);
    // Each 4 KiB comment-padded document is counted at far more than its text (its ~2,000 comment tokens).
    expect(stats.entries).toBeLessThan(bound / (2000 * 100) + 1);
    expect(stats.entries).toBeGreaterThan(0);
    // Invalid documents are cached too (their refusal holds the document), under the same bound.
    for (let i = 0; i < 100; i++) prepare({ query: `${'#\n'.repeat(1000)}{ unknown${i} }` }, null);
    expect(prepare.cacheStats().bytes).toBeLessThanOrEqual(bound);
  });
});
