import { messagingEntities } from '@shopgraph/kit';
import { CancelledOrder } from './cancelled-order.entity.ts';
import { Reservation } from './reservation.entity.ts';
import { StockItem } from './stock-item.entity.ts';

export { CancelledOrder, Reservation, StockItem };
export const entities = [StockItem, Reservation, CancelledOrder, ...messagingEntities];
