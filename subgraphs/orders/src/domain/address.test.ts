import { DomainError } from '@shopgraph/kit';
import { describe, expect, it } from 'vitest';
import { isCountryCode, validAddress, validIdempotencyKey, type AddressInput } from './address.ts';

const good: AddressInput = { name: ' Ada  Lovelace ', line1: '12 St James\'s Square', line2: '  ', city: 'London', postalCode: 'sw1y 4jh', country: 'gb' };

function failure(run: () => unknown): { code: string; field: string[] | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return { code: error.code, field: error.field };
    throw error;
  }
  throw new Error('expected a DomainError');
}

describe('validAddress', () => {
  it('normalises a good address', () => {
    expect(validAddress(good)).toEqual({ name: 'Ada Lovelace', line1: '12 St James\'s Square', line2: null, city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' });
    expect(validAddress({ ...good, line2: 'Flat 3' }).line2).toBe('Flat 3');
    expect(validAddress({ ...good, name: 'Zoë Ünal', city: 'Zürich', country: 'CH', postalCode: '8001' }).city).toBe('Zürich');
  });

  it('names the bad field', () => {
    const cases: [Partial<AddressInput>, string][] = [
      [{ name: '   ' }, 'name'],
      [{ line1: '' }, 'line1'],
      [{ line2: 'x'.repeat(201) }, 'line2'],
      [{ city: 'x'.repeat(101) }, 'city'],
      [{ postalCode: '' }, 'postalCode'],
      [{ postalCode: '12/34' }, 'postalCode'],
      [{ country: 'XX' }, 'country'],
      [{ country: 'GBR' }, 'country'],
      [{ country: 'UK' }, 'country'],
      [{ country: 'EU' }, 'country'],
      [{ name: 'bell\u0007' }, 'name'],
    ];
    for (const [change, field] of cases) {
      expect(failure(() => validAddress({ ...good, ...change }))).toEqual({ code: 'INVALID_ADDRESS', field: ['input', 'shippingAddress', field] });
    }
  });

  it('knows the ISO 3166-1 alpha-2 codes', () => {
    for (const code of ['DE', 'US', 'GB', 'JP', 'BR', 'ZA', 'AX']) expect(isCountryCode(code)).toBe(true);
    for (const code of ['de', 'UK', 'XK', 'EU', 'ZZ', '']) expect(isCountryCode(code)).toBe(false);
  });
});

describe('validIdempotencyKey', () => {
  it('accepts 1 to 100 characters as given', () => {
    expect(validIdempotencyKey('a')).toBe('a');
    expect(validIdempotencyKey(' k-1 ')).toBe(' k-1 ');
    expect(validIdempotencyKey('é'.repeat(100))).toHaveLength(100);
  });

  it('refuses empty, blank, too long or control characters', () => {
    for (const key of ['', '   ', 'x'.repeat(101), 'a\nb']) {
      expect(failure(() => validIdempotencyKey(key))).toEqual({ code: 'INVALID_IDEMPOTENCY_KEY', field: ['input', 'idempotencyKey'] });
    }
  });
});
