import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

export const SHIPMENT_STATUSES = ['PENDING', 'SHIPPED', 'DELIVERED', 'CANCELLED'] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

/** The shipment of one confirmed order (`order_id` is unique: an order ships once). */
export const Shipment = defineEntity({
  name: 'Shipment',
  properties: {
    id: p.uuid().primary(),
    orderId: p.uuid().unique(),
    /** Who placed the order (only they and staff may see the shipment). */
    userId: p.uuid(),
    status: p.enum(SHIPMENT_STATUSES).default('PENDING'),
    trackingNumber: p.string().length(12).unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type Shipment = InferEntity<typeof Shipment>;
