import { messagingEntities } from '@shopgraph/kit';
import { Reservation } from './reservation.entity.ts';
import { StockItem } from './stock-item.entity.ts';

export { Reservation, StockItem };
export const entities = [StockItem, Reservation, ...messagingEntities];
