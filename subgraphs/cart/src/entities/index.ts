import { Cart } from './cart.entity.ts';
import { CartLine } from './cart-line.entity.ts';

export { Cart, CartLine };
export const entities = [Cart, CartLine];
