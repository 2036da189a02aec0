import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';
import { SHIPMENT_STATUSES, Shipment } from './shipment.entity.ts';

/**
 * A step of a shipment's tracking history: the status it entered, when. Statuses only move
 * forward, so a shipment enters each at most once (the primary key).
 */
export const ShipmentEvent = defineEntity({
  name: 'ShipmentEvent',
  properties: {
    shipment: () => p.manyToOne(Shipment).primary().deleteRule('cascade'),
    status: p.enum(SHIPMENT_STATUSES).primary(),
    description: p.text(),
    at: p.datetime(),
  },
});
export type ShipmentEvent = InferEntity<typeof ShipmentEvent>;
