// Demo data, loaded through the router's public API as a real staff client would:
// categories, products with stock, and a demo customer. Safe to run again: it only fills gaps.
import { graphql } from '@shopgraph/testkit/graphql';

export interface SeedOptions {
  routerUrl: string;
  staff: { email: string; password: string };
  customer: { email: string; password: string; name: string };
  products: number;
  log?: (message: string) => void;
}

const CATEGORIES = ['Apparel', 'Books', 'Electronics', 'Garden', 'Grocery', 'Home', 'Outdoors', 'Sports', 'Toys', 'Beauty'];
const ADJECTIVES = ['Classic', 'Compact', 'Deluxe', 'Eco', 'Essential', 'Lightweight', 'Modern', 'Premium', 'Rugged', 'Smart'];
const NOUNS = ['Backpack', 'Blender', 'Candle', 'Chair', 'Headphones', 'Jacket', 'Kettle', 'Lamp', 'Mug', 'Notebook', 'Sneakers', 'Tent', 'Towel', 'Watch', 'Yoga Mat'];
const BATCH = 25;

export async function seed(options: SeedOptions): Promise<void> {
  const log = options.log ?? (() => {});
  const call = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const response = await graphql(options.routerUrl, query, variables, token);
    if (response.errors?.length) throw new Error(`seed: ${response.errors.map((e) => e.message).join('; ')}`);
    return response.data!;
  };

  const staffToken = (await call(`mutation($input: LoginInput!) { login(input: $input) { accessToken errors { code message } } }`, { input: options.staff }))['login'];
  if (!staffToken.accessToken) throw new Error(`seed: staff login failed (${JSON.stringify(staffToken.errors)}); is STAFF_EMAIL/STAFF_PASSWORD set for accounts?`);
  const token: string = staffToken.accessToken;

  const existing: { id: string; slug: string }[] = (await call(`{ categories { id slug } }`, {}))['categories'];
  const categoryIds = new Map(existing.map((c) => [c.slug, c.id]));
  for (const name of CATEGORIES) {
    const slug = name.toLowerCase();
    if (categoryIds.has(slug)) continue;
    const created = (await call(`mutation($input: CreateCategoryInput!) { createCategory(input: $input) { category { id } errors { message } } }`, { input: { name, slug } }, token))['createCategory'];
    categoryIds.set(slug, created.category.id);
  }

  const have: number = (await call(`{ products(first: 0) { totalCount } }`, {}))['products'].totalCount;
  const slugs = [...categoryIds.keys()];
  for (let start = have; start < options.products; start += BATCH) {
    const indexes = Array.from({ length: Math.min(BATCH, options.products - start) }, (_, i) => start + i);
    const creates = indexes.map((n) => `p${n}: createProduct(input: ${productInput(n, categoryIds.get(slugs[n % slugs.length]!)!)}) { product { id } errors { code message } }`);
    const created = await call(`mutation { ${creates.join('\n')} }`, {}, token);
    const stock = indexes.map((n) => {
      const id = created[`p${n}`].product?.id;
      if (!id) throw new Error(`seed: product ${n}: ${JSON.stringify(created[`p${n}`].errors)}`);
      return `s${n}: setStock(input: { productId: "${id}", quantity: ${n % 11 === 10 ? 0 : 5 + ((n * 13) % 120)} }) { errors { message } }`;
    });
    await call(`mutation { ${stock.join('\n')} }`, {}, token);
    if ((start / BATCH) % 8 === 0) log(`seeded ${Math.min(start + BATCH, options.products)}/${options.products} products`);
  }

  const login = (await call(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email: options.customer.email, password: options.customer.password } }))['login'];
  if (!login.accessToken) {
    const registered = (await call(`mutation($input: RegisterInput!) { register(input: $input) { errors { code message } } }`, { input: options.customer }))['register'];
    if (registered.errors.length) throw new Error(`seed: demo customer: ${JSON.stringify(registered.errors)}`);
  }
}

function productInput(n: number, categoryId: string): string {
  const name = `${ADJECTIVES[n % ADJECTIVES.length]} ${NOUNS[Math.floor(n / ADJECTIVES.length) % NOUNS.length]} ${Math.floor(n / (ADJECTIVES.length * NOUNS.length)) + 1}`;
  const amount = 499 + ((n * 7919) % 25_000);
  return `{ sku: "SKU-${String(n).padStart(5, '0')}", name: ${JSON.stringify(name)}, description: ${JSON.stringify(`${name}: demo product ${n}.`)}, price: { amount: ${amount}, currency: "USD" }, categoryId: "${categoryId}" }`;
}
