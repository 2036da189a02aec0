import { describe, expect, it } from 'vitest';
import { mergeChanges, suggestInputs } from './product-document.ts';

describe('suggestInputs', () => {
  it('completes from the start of every word of the name', () => {
    expect(suggestInputs(' Trail  running shoes ')).toEqual(['Trail running shoes', 'running shoes', 'shoes']);
  });
});

describe('mergeChanges', () => {
  it('makes one change per product, later fields winning, earlier ones kept', () => {
    expect(mergeChanges([
      { id: 'a', fields: { id: 'a', name: 'Kettle', sku: 'K' } },
      { id: 'b', fields: { id: 'b', inStock: true } },
      { id: 'a', fields: { id: 'a', inStock: false } },
      { id: 'a', fields: { id: 'a', name: 'Teapot' } },
    ])).toEqual([
      { id: 'a', fields: { id: 'a', name: 'Teapot', sku: 'K', inStock: false } },
      { id: 'b', fields: { id: 'b', inStock: true } },
    ]);
  });
});
