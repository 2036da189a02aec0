import { messagingEntities } from '@shopgraph/kit';
import { Cart } from './cart.entity.ts';
import { CartLine } from './cart-line.entity.ts';
import { Checkout } from './checkout.entity.ts';

export { Cart, CartLine, Checkout };
export const entities = [Cart, CartLine, Checkout, ...messagingEntities];
