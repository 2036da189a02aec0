import { messagingEntities } from '@shopgraph/kit';
import { ShipmentEvent } from './shipment-event.entity.ts';
import { Shipment } from './shipment.entity.ts';

export { Shipment, ShipmentEvent };
export { SHIPMENT_STATUSES, type ShipmentStatus } from './shipment.entity.ts';
/** Shipping's own tables (the migrations create them), then the kit's outbox and processed-message tables. */
export const domainEntities = [Shipment, ShipmentEvent];
export const entities = [...domainEntities, ...messagingEntities];
