import { DomainError } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { checkBody, checkTitle, decodeCursor, encodeCursor, ratingOf } from './reviews.service.ts';

describe('ratingOf', () => {
  it('is the exact mean of the stars, and no average without reviews', () => {
    expect(ratingOf([1, 0, 1, 0, 1])).toEqual({ average: 3, count: 3, distribution: [1, 0, 1, 0, 1] });
    expect(ratingOf([0, 0, 0, 2, 1])).toEqual({ average: 13 / 3, count: 3, distribution: [0, 0, 0, 2, 1] });
    expect(ratingOf([0, 0, 0, 0, 0])).toEqual({ average: null, count: 0, distribution: [0, 0, 0, 0, 0] });
  });
});

describe('review text', () => {
  it('keeps line breaks and tabs in a body, refuses other control characters', () => {
    expect(checkBody(' one\n\ttwo\r\n ')).toBe('one\n\ttwo');
    expect(() => checkBody('bell \u0007')).toThrow(DomainError);
    expect(() => checkTitle('a\nb')).toThrow(DomainError);
    expect(checkTitle(' <i>markup</i> stays text ')).toBe('<i>markup</i> stays text');
  });
});

describe('cursors', () => {
  const review = { rating: 4, createdAt: new Date('2026-01-02T03:04:05.678Z'), id: crypto.randomUUID() };

  it('round-trip within their sort only', () => {
    expect(decodeCursor(encodeCursor('HIGHEST', review), 'HIGHEST')).toEqual(review);
    expect(() => decodeCursor(encodeCursor('HIGHEST', review), 'NEWEST')).toThrow(/cursor/);
    expect(() => decodeCursor('garbage', 'NEWEST')).toThrow(/cursor/);
  });
});
