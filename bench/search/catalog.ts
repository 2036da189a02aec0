// The bench's shop: products with realistic names and descriptions from word lists (adjective ×
// colour/material × noun, nouns by category), written straight into catalog's and inventory's
// tables in bulk (the mutations would take an hour for 100,000), and carts for the cart figure.
// Nothing here goes through an outbox: the search index is then built from the source of truth
// by `npm run search:reindex`, as after a restore.
import pg from 'pg';
import { cartIdFor } from '../../subgraphs/cart/src/domain/cart.service.ts';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32): the same shop and queries every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/** A v4-shaped UUID from the generator (crypto.randomUUID would differ between runs). */
export function uuid(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
  hex[12] = '4';
  hex[16] = (8 + Math.floor(rand() * 4)).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export const CATEGORIES: Record<string, readonly string[]> = {
  Footwear: ['running shoes', 'trail shoes', 'sneakers', 'hiking boots', 'sandals', 'slippers', 'loafers', 'rain boots'],
  Apparel: ['jacket', 'hoodie', 't-shirt', 'raincoat', 'sweater', 'jeans', 'scarf', 'gloves', 'socks', 'fleece'],
  Outdoor: ['tent', 'sleeping bag', 'backpack', 'headlamp', 'camping stove', 'hammock', 'water bottle', 'compass'],
  Kitchen: ['frying pan', 'chef knife', 'cutting board', 'kettle', 'blender', 'coffee grinder', 'saucepan', 'mixing bowl'],
  Electronics: ['headphones', 'speaker', 'charger', 'keyboard', 'mouse', 'monitor', 'webcam', 'power bank'],
  Home: ['lamp', 'pillow', 'blanket', 'curtain', 'rug', 'mirror', 'candle', 'vase'],
  Sports: ['yoga mat', 'dumbbell', 'tennis racket', 'football', 'bicycle helmet', 'jump rope', 'skateboard', 'swim goggles'],
  Garden: ['watering can', 'garden hose', 'shovel', 'planter', 'pruning shears', 'wheelbarrow', 'seed tray', 'rake'],
  Office: ['notebook', 'desk organizer', 'fountain pen', 'stapler', 'office chair', 'desk lamp', 'whiteboard', 'binder'],
  Toys: ['puzzle', 'building blocks', 'teddy bear', 'kite', 'board game', 'toy car', 'dollhouse', 'yo-yo'],
  Pets: ['dog leash', 'cat bed', 'pet bowl', 'chew toy', 'litter box', 'bird feeder', 'dog collar', 'aquarium'],
  Tools: ['hammer', 'screwdriver set', 'cordless drill', 'tape measure', 'wrench', 'toolbox', 'spirit level', 'utility knife'],
};

export const ADJECTIVES = [
  'lightweight', 'waterproof', 'ergonomic', 'compact', 'durable', 'classic', 'premium', 'vintage', 'modern', 'rugged',
  'portable', 'wireless', 'insulated', 'breathable', 'foldable', 'adjustable', 'organic', 'handmade', 'stainless', 'sturdy',
  'ultralight', 'cozy', 'sleek', 'minimalist', 'reflective', 'deluxe', 'everyday', 'professional', 'travel', 'heritage',
  'soft', 'bold', 'essential', 'smart', 'urban', 'alpine', 'quiet', 'rechargeable', 'padded', 'reinforced',
] as const;

export const COLOURS = [
  'red', 'blue', 'black', 'white', 'green', 'grey', 'navy', 'olive', 'orange', 'yellow',
  'charcoal', 'walnut', 'bamboo', 'leather', 'canvas', 'wool', 'cotton', 'steel', 'oak', 'ceramic',
] as const;

const MODELS = ['', '', '', 'Pro', 'Mini', 'XL', '2', 'Plus', 'Lite', 'Max'];
const FEATURES = [
  'Built to last with reinforced seams and a two-year warranty.',
  'Easy to clean and quick to dry.',
  'Packs down small for travel.',
  'Designed with feedback from professionals.',
  'Made from recycled materials wherever possible.',
  'Comfortable enough for all-day use.',
  'Tested in rain, snow and summer heat.',
  'Comes with a protective carry case.',
  'Balanced weight and a non-slip grip.',
  'Assembled by hand in small batches.',
  'A best seller for ten seasons running.',
  'Fits neatly in a drawer or a backpack.',
];
const USES = ['weekend trips', 'daily commutes', 'small apartments', 'long hikes', 'busy kitchens', 'home offices', 'beginners', 'families', 'gifts', 'rainy days'];

export interface Category {
  id: string;
  name: string;
  slug: string;
  nouns: readonly string[];
}

export interface ProductSpec {
  id: string;
  sku: string;
  name: string;
  description: string;
  /** Minor units. */
  price: number;
  categoryId: string;
  noun: string;
  inStock: boolean;
}

const title = (words: string): string => words.replace(/(^|[\s-])(\p{L})/gu, (_, sep: string, letter: string) => sep + letter.toUpperCase());

export function productName(rand: () => number, noun: string): string {
  return title([pick(rand, ADJECTIVES), pick(rand, COLOURS), noun, pick(rand, MODELS)].filter(Boolean).join(' '));
}

/** The shop: categories and `count` products (a seventh of them out of stock), the same for the same seed. */
export function generateShop(count: number, seed = 1): { categories: Category[]; products: ProductSpec[] } {
  const rand = random(seed);
  const categories = Object.entries(CATEGORIES).map(([name, nouns]) => ({ id: uuid(rand), name, slug: name.toLowerCase(), nouns }));
  const products: ProductSpec[] = [];
  for (let n = 0; n < count; n++) {
    const category = pick(rand, categories);
    const noun = pick(rand, category.nouns);
    const description = `${title(pick(rand, ADJECTIVES))} ${noun} in ${pick(rand, COLOURS)}, ${pick(rand, ADJECTIVES)} and ${pick(rand, ADJECTIVES)}. ${pick(rand, FEATURES)} ${pick(rand, FEATURES)} Ideal for ${pick(rand, USES)}; part of our ${category.name.toLowerCase()} range.`;
    // Log-uniform from $2.99 to $499.99, ending in 99 cents.
    const price = Math.floor(Math.exp(Math.log(300) + rand() * Math.log(50_000 / 300)) / 100) * 100 + 99;
    products.push({ id: uuid(rand), sku: `SB-${n.toString(36).toUpperCase().padStart(6, '0')}`, name: productName(rand, noun), description, price, categoryId: category.id, noun, inStock: rand() >= 1 / 7 });
  }
  return { categories, products };
}

async function withDb<T>(url: string, run: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return await run(db);
  } finally {
    await db.end();
  }
}

const BATCH = 5_000;

/** Writes the shop into catalog's database (categories, products) and inventory's (stock items), in batches, then ANALYZEs. */
export async function seedShop(urls: { catalog: string; inventory: string }, shop: ReturnType<typeof generateShop>, currency: string): Promise<void> {
  await withDb(urls.catalog, async (db) => {
    const { categories } = shop;
    await db.query(`insert into category (id, name, slug) select * from unnest($1::uuid[], $2::text[], $3::text[])`, [categories.map((c) => c.id), categories.map((c) => c.name), categories.map((c) => c.slug)]);
    for (let from = 0; from < shop.products.length; from += BATCH) {
      const batch = shop.products.slice(from, from + BATCH);
      await db.query(
        `insert into product (id, sku, name, description, price_amount, price_currency, category_id, created_at, updated_at)
         select id, sku, name, description, price, $6, category_id, now(), now()
           from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $7::uuid[]) as t(id, sku, name, description, price, category_id)`,
        [batch.map((p) => p.id), batch.map((p) => p.sku), batch.map((p) => p.name), batch.map((p) => p.description), batch.map((p) => p.price), currency, batch.map((p) => p.categoryId)],
      );
    }
    await db.query('analyze category, product');
  });
  await withDb(urls.inventory, async (db) => {
    for (let from = 0; from < shop.products.length; from += BATCH) {
      const batch = shop.products.slice(from, from + BATCH);
      await db.query(`insert into stock_item (product_id, on_hand) select * from unnest($1::uuid[], $2::int[])`, [batch.map((p) => p.id), batch.map((p, i) => (p.inStock ? 1 + ((from + i) % 500) : 0))]);
    }
    await db.query('analyze stock_item');
  });
}

/** `customers` carts of `lines` lines each (products drawn from `productIds`), written into cart's database; returns the owners' ids. */
export async function seedCarts(url: string, productIds: readonly string[], customers: number, lines: number, seed = 2): Promise<string[]> {
  const rand = random(seed);
  const owners = Array.from({ length: customers }, () => uuid(rand));
  const line = { cart: [] as string[], product: [] as string[], quantity: [] as number[] };
  for (const owner of owners) {
    const chosen = new Set<string>();
    while (chosen.size < Math.min(lines, productIds.length)) chosen.add(pick(rand, productIds));
    for (const productId of chosen) {
      line.cart.push(cartIdFor(owner));
      line.product.push(productId);
      line.quantity.push(1 + Math.floor(rand() * 3));
    }
  }
  await withDb(url, async (db) => {
    await db.query(`insert into cart (id, user_id, created_at, updated_at) select id, user_id, now(), now() from unnest($1::uuid[], $2::uuid[]) as t(id, user_id)`, [owners.map(cartIdFor), owners]);
    await db.query(`insert into cart_line (cart_id, product_id, quantity, added_at) select cart_id, product_id, quantity, now() from unnest($1::uuid[], $2::uuid[], $3::int[]) as t(cart_id, product_id, quantity)`, [line.cart, line.product, line.quantity]);
    await db.query('analyze cart, cart_line');
  });
  return owners;
}
