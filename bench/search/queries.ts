// What shoppers type: 1–3 words of a product's name (a noun alone, an adjective and a noun, a
// colour, an adjective and a noun), some with a typo, some narrowed by category, price or stock.
import { pick, random, type ProductSpec } from './catalog.ts';

export interface SearchFilter {
  categoryId?: string;
  minPrice?: number;
  maxPrice?: number;
  inStock?: boolean;
}

export interface SearchCase {
  query: string;
  filter?: SearchFilter;
  /** For the report: how the case was made. */
  typo: boolean;
}

/** One edit (drop, double, swap or replace a letter) inside the longest word of 5+ letters, past its first letter (as people mistype). */
export function withTypo(rand: () => number, text: string): string {
  const words = text.split(' ');
  const longest = words.reduce((best, word, i) => (word.length > words[best]!.length ? i : best), 0);
  const word = words[longest]!;
  if (word.length < 5) return text;
  const at = 1 + Math.floor(rand() * (word.length - 2));
  const letter = 'abcdefghijklmnopqrstuvwxyz'[Math.floor(rand() * 26)]!;
  const edits = [
    () => word.slice(0, at) + word.slice(at + 1),
    () => word.slice(0, at) + word[at] + word.slice(at),
    () => word.slice(0, at) + word[at + 1] + word[at] + word.slice(at + 2),
    () => word.slice(0, at) + letter + word.slice(at + 1),
  ];
  words[longest] = pick(rand, edits)();
  return words.join(' ');
}

/**
 * `count` searches drawn from the shop's products: 40 % one word (the noun), 40 % two
 * (adjective + noun), 20 % three (adjective, colour, noun); 20 % with a typo; 30 % filtered
 * (category, a price band, in stock, or a category and a price band).
 */
export function searchMix(products: readonly ProductSpec[], count: number, seed = 3): SearchCase[] {
  const rand = random(seed);
  const bands = [[0, 999], [1_000, 2_499], [2_500, 4_999], [5_000, 9_999], [10_000, 24_999], [25_000, null]] as const;
  return Array.from({ length: count }, () => {
    const product = pick(rand, products);
    const [adjective, colour] = product.name.toLowerCase().split(' ');
    const shape = rand();
    let query = shape < 0.4 ? product.noun : shape < 0.8 ? `${adjective} ${product.noun}` : `${adjective} ${colour} ${product.noun}`;
    const typo = rand() < 0.2;
    if (typo) query = withTypo(rand, query);
    let filter: SearchFilter | undefined;
    if (rand() < 0.3) {
      const [minPrice, maxPrice] = pick(rand, bands);
      const kind = rand();
      filter =
        kind < 0.35 ? { categoryId: product.categoryId }
        : kind < 0.65 ? { minPrice, ...(maxPrice !== null ? { maxPrice } : {}) }
        : kind < 0.85 ? { inStock: true }
        : { categoryId: product.categoryId, minPrice, ...(maxPrice !== null ? { maxPrice } : {}) };
    }
    return { query, ...(filter ? { filter } : {}), typo };
  });
}

/** Searches that must find something whatever the names became: a category's noun, alone. */
export function nounSearches(products: readonly ProductSpec[], count: number, seed = 4): SearchCase[] {
  const rand = random(seed);
  return Array.from({ length: count }, () => ({ query: pick(rand, products).noun, typo: false }));
}
