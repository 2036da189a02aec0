import { z } from 'zod';

export const id = z.uuid();
export const money = z.object({ amount: z.number().int().nonnegative(), currency: z.string().regex(/^[A-Z]{3}$/) });
export const orderStatus = z.enum(['PENDING', 'STOCK_RESERVED', 'UNDER_REVIEW', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED']);
export const address = z.object({
  name: z.string(),
  line1: z.string(),
  line2: z.string().nullable().optional(),
  city: z.string(),
  postalCode: z.string(),
  country: z.string().length(2),
});
