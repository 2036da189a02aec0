import { StockItem } from './stock-item.entity.ts';

export { StockItem };
export const entities = [StockItem];
