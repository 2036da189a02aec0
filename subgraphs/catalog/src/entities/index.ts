import { messagingEntities } from '@shopgraph/kit';
import { Category } from './category.entity.ts';
import { Product } from './product.entity.ts';

export { Category, Product };
export type { Category as CategoryEntity } from './category.entity.ts';
export const entities = [Category, Product, ...messagingEntities];
