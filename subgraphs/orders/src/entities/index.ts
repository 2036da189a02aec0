import { messagingEntities } from '@shopgraph/kit';
import { Order } from './order.entity.ts';
import { OrderLine } from './order-line.entity.ts';
import { OrderStatusChange } from './order-status-change.entity.ts';

export { Order, OrderLine, OrderStatusChange };
export type { Address } from './order.entity.ts';
/** The service's own entities (its migrations create them). */
export const orderEntities = [Order, OrderLine, OrderStatusChange];
export const entities = [...orderEntities, ...messagingEntities];
