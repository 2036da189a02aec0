import { LockMode, raw, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { DomainError, InvalidInput, isUuid, recordEvent, type EntityManager } from '@shopgraph/kit';
import type { EventData } from '@shopgraph/events';
import { Category } from '../entities/category.entity.ts';
import { Product } from '../entities/product.entity.ts';

export interface MoneyInput {
  amount: number;
  currency: string;
}

export interface ProductPage {
  products: Product[];
  hasNextPage: boolean;
}

/** Cursor over the listing order (name, id); opaque to clients. */
export function encodeCursor(product: Pick<Product, 'name' | 'id'>): string {
  return Buffer.from(JSON.stringify([product.name, product.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && isUuid(value[1])) return value as [string, string];
  } catch {
    // fall through
  }
  throw new DomainError('INVALID_CURSOR', 'Cursor is not one this API returned', ['after']);
}

export const MAX_PAGE_SIZE = 100;

const skuTaken = (sku: string) => new DomainError('SKU_TAKEN', `A product with SKU "${sku}" exists`, ['input', 'sku']);
/** `at`: where the product's fields are in the mutation's input. */
const productNotFound = (at = ['input']) => new DomainError('PRODUCT_NOT_FOUND', 'No such product', [...at, 'id']);
const categoryNotFound = (at = ['input']) => new DomainError('CATEGORY_NOT_FOUND', 'No such category', [...at, 'categoryId']);

/** Staff's changes to one product: only the fields given change (`categoryId: null` takes it out of its category). */
export interface ProductChanges {
  id: string;
  name?: string | null;
  description?: string | null;
  price?: MoneyInput | null;
  categoryId?: string | null;
}

/** The most products one updateProducts changes (its transaction holds their row locks until it commits). */
export const MAX_BULK_UPDATE = 250;

/** The whole product as catalog.product.changed carries it: consumers (search) replace their copy with it. */
export function productChanged(product: Product): EventData<'catalog.product.changed'> {
  return {
    productId: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    price: { amount: product.priceAmount, currency: product.priceCurrency },
    categoryId: product.category?.id ?? null,
  };
}

/** Records a product's new state in the transaction that writes it (the outbox publishes it after commit). */
function recordChanged(em: EntityManager, product: Product): void {
  recordEvent(em, 'catalog.product.changed', product.id, productChanged(product));
}

/** A product as read for answering: the entity's fields, its category a plain record. */
export type ProductView = Omit<Product, 'category'> & { category: Pick<Category, 'id' | 'name' | 'slug'> | null };

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_amount: number;
  price_currency: string;
  created_at: Date;
  updated_at: Date;
  category_id: string | null;
  category_name: string | null;
  category_slug: string | null;
}

const SELECT_PRODUCT_VIEWS = `
  select p.id, p.sku, p.name, p.description, p.price_amount, p.price_currency, p.created_at, p.updated_at,
         c.id as category_id, c.name as category_name, c.slug as category_slug
  from product p left join category c on c.id = p.category_id`;

const productView = (row: ProductRow): ProductView => ({
  id: row.id,
  sku: row.sku,
  name: row.name,
  description: row.description,
  priceAmount: row.price_amount,
  priceCurrency: row.price_currency,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  category: row.category_id ? { id: row.category_id, name: row.category_name!, slug: row.category_slug! } : null,
});

/** Business rules of the catalog; the only code that changes products and categories. */
export class CatalogService {
  private readonly em: EntityManager;
  private readonly currency: string;

  constructor(em: EntityManager, currency: string) {
    this.em = em;
    this.currency = currency;
  }

  /**
   * Products by id, read for answering (prices for carts and checkouts, entity references): one
   * statement, no entities. Every cart view and checkout asks this, and the ORM's query building
   * and hydration cost more than the read.
   */
  async findProducts(ids: readonly string[]): Promise<ProductView[]> {
    const valid = ids.filter(isUuid);
    if (!valid.length) return [];
    const rows = await this.em.execute<ProductRow[]>(`${SELECT_PRODUCT_VIEWS} where p.id in (${valid.map(() => '?').join(', ')})`, valid);
    return rows.map(productView);
  }

  findCategories(ids: readonly string[]): Promise<Category[]> {
    const valid = ids.filter(isUuid);
    return valid.length ? this.em.find(Category, { id: { $in: valid } }) : Promise.resolve([]);
  }

  async listProducts(first: number, after: string | null | undefined, categoryId: string | null | undefined): Promise<ProductPage> {
    if (first < 0 || first > MAX_PAGE_SIZE) throw new DomainError('INVALID_PAGE_SIZE', `first must be between 0 and ${MAX_PAGE_SIZE}`, ['first']);
    if (categoryId && !isUuid(categoryId)) return { products: [], hasNextPage: false };
    const inCategory = categoryId ? { category: categoryId } : {};
    const page = after
      ? (() => {
          const [name, id] = decodeCursor(after);
          // A row comparison, so the (name, id) index finds the page's start instead of every earlier row being scanned.
          return { [raw((alias: string) => `(${alias}.name, ${alias}.id) > (?, ?)`, [name, id])]: [] };
        })()
      : {};
    const rows = await this.em.find(Product, { ...inCategory, ...page }, { orderBy: { name: 'asc', id: 'asc' }, limit: first + 1, populate: ['category'] });
    return { products: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  /** How many products the listing (of one category, if given) holds; it reads every one of them. */
  countProducts(categoryId: string | null | undefined): Promise<number> {
    if (categoryId && !isUuid(categoryId)) return Promise.resolve(0);
    return this.em.count(Product, categoryId ? { category: categoryId } : {});
  }

  categories(): Promise<Category[]> {
    return this.em.find(Category, {}, { orderBy: { name: 'asc' } });
  }

  async createCategory(input: { name: string; slug: string }): Promise<Category> {
    const name = input.name.trim();
    if (!name) throw new DomainError('INVALID_NAME', 'Name must not be empty', ['input', 'name']);
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(input.slug)) throw new DomainError('INVALID_SLUG', 'Slug must be lowercase words joined by "-"', ['input', 'slug']);
    if (await this.em.count(Category, { slug: input.slug })) throw new DomainError('SLUG_TAKEN', `A category with slug "${input.slug}" exists`, ['input', 'slug']);
    const category = this.em.create(Category, { id: crypto.randomUUID(), name, slug: input.slug });
    await this.em.flush();
    return category;
  }

  async createProduct(input: { sku: string; name: string; description?: string | null; price: MoneyInput; categoryId?: string | null }): Promise<Product> {
    const sku = input.sku.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(sku)) throw new DomainError('INVALID_SKU', 'SKU must be 1-64 letters, digits, ".", "_" or "-"', ['input', 'sku']);
    // A friendly early answer; the unique constraint is what holds under concurrency.
    if (await this.em.count(Product, { sku })) throw skuTaken(sku);
    const name = this.validName(input.name);
    const price = this.validPrice(input.price);
    const category = await this.validCategory(input.categoryId);
    try {
      // The product and its catalog.product.changed commit together, or neither does.
      return await this.em.transactional(async (em) => {
        const product = em.create(Product, { id: crypto.randomUUID(), sku, name, description: input.description ?? '', ...price, category });
        recordChanged(em, product);
        return product;
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException && (error as { constraint?: string }).constraint === 'product_sku_unique') throw skuTaken(sku);
      throw error;
    }
  }

  /** Staff's edit of one product; its first problem is the answer. */
  async updateProduct(input: ProductChanges): Promise<Product> {
    try {
      const [product] = await this.update([input], () => ['input']);
      return product!;
    } catch (error) {
      if (error instanceof InvalidInput) throw error.errors[0]!;
      throw error;
    }
  }

  /**
   * Staff's bulk edit (a price feed, an import): every change or none, in one transaction with
   * one event per product, and every problem of every item answered at once, each naming its item
   * (`input.products.<index>.<field>`). What one updateProduct per product would do, for a fixed
   * cost paid once per batch instead of once per product.
   */
  async updateProducts(inputs: readonly ProductChanges[]): Promise<Product[]> {
    if (inputs.length < 1 || inputs.length > MAX_BULK_UPDATE) {
      throw new DomainError('INVALID_BATCH_SIZE', `A batch changes 1 to ${MAX_BULK_UPDATE} products`, ['input', 'products']);
    }
    return this.update(inputs, (i) => ['input', 'products', String(i)]);
  }

  /** Applies `inputs` in one transaction; `at(i)` is where item i's fields are in the mutation's input. */
  private async update(inputs: readonly ProductChanges[], at: (i: number) => string[]): Promise<Product[]> {
    const problems: DomainError[] = [];
    const ids = new Set<string>();
    // Each item's new name and price, checked once; a rule's field becomes the item's.
    const checked = inputs.map((input, i) => {
      if (!isUuid(input.id)) problems.push(productNotFound(at(i)));
      else if (ids.has(input.id)) problems.push(new DomainError('DUPLICATE_PRODUCT', 'A batch changes each product once', [...at(i), 'id']));
      ids.add(input.id);
      const valid = <T>(rule: () => T): T | undefined => {
        try {
          return rule();
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          problems.push(new DomainError(error.code, error.message, [...at(i), ...(error.field ?? []).slice(1)]));
          return undefined;
        }
      };
      return { name: input.name == null ? undefined : valid(() => this.validName(input.name!)), price: input.price == null ? undefined : valid(() => this.validPrice(input.price!)) };
    });
    if (problems.length) throw new InvalidInput(problems);
    return this.em.transactional(async (em) => {
      // The row locks serialise concurrent updates of a product: each event carries the state its
      // own transaction committed, and the outbox orders them as they committed. Taken in id order,
      // so two batches sharing products queue instead of deadlocking.
      const found = await em.find(Product, { id: { $in: [...ids] } }, { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' }, populate: ['category'] });
      const products = new Map(found.map((product) => [product.id, product]));
      const categoryIds = [...new Set(inputs.flatMap((input) => (input.categoryId ? [input.categoryId] : [])))].filter(isUuid);
      const categories = new Map((categoryIds.length ? await em.find(Category, { id: { $in: categoryIds } }) : []).map((category) => [category.id, category]));
      inputs.forEach((input, i) => {
        if (!products.has(input.id)) problems.push(productNotFound(at(i)));
        if (input.categoryId && !categories.has(input.categoryId)) problems.push(categoryNotFound(at(i)));
      });
      if (problems.length) throw new InvalidInput(problems);
      return inputs.map((input, i) => {
        const product = products.get(input.id)!;
        const { name, price } = checked[i]!;
        if (name !== undefined) product.name = name;
        if (input.description != null) product.description = input.description;
        if (price !== undefined) Object.assign(product, price);
        if (input.categoryId !== undefined) product.category = input.categoryId ? categories.get(input.categoryId)! : null;
        recordChanged(em, product);
        return product;
      });
    });
  }

  private validName(raw: string): string {
    const name = raw.trim();
    if (!name || name.length > 200) throw new DomainError('INVALID_NAME', 'Name must be 1-200 characters', ['input', 'name']);
    return name;
  }

  private validPrice(price: MoneyInput): { priceAmount: number; priceCurrency: string } {
    if (!Number.isSafeInteger(price.amount) || price.amount < 0) throw new DomainError('INVALID_PRICE', 'Price must be a non-negative amount in minor units', ['input', 'price', 'amount']);
    if (price.currency !== this.currency) throw new DomainError('UNSUPPORTED_CURRENCY', `Prices are in ${this.currency}`, ['input', 'price', 'currency']);
    return { priceAmount: price.amount, priceCurrency: price.currency };
  }

  private async validCategory(categoryId: string | null | undefined): Promise<Category | null> {
    if (!categoryId) return null;
    const category = isUuid(categoryId) ? await this.em.findOne(Category, { id: categoryId }) : null;
    if (!category) throw categoryNotFound();
    return category;
  }
}
