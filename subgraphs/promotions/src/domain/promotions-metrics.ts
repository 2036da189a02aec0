import { Counter, type MessageOutcome, type Registry } from '@shopgraph/kit';

export type RedemptionOutcome = 'committed' | 'released';

export type PromotionsMetrics = ReturnType<typeof promotionsMetrics>;

/**
 * Coupon reservations by result (reserved, replayed, no_coupon, or the refusal's code in lower
 * case: a fixed set) and redemptions committed or released. What a saga step did is counted only
 * once its transaction committed: the step notes it under its event's id, and the consumer's
 * outcome for that event settles it.
 */
export function promotionsMetrics(registry: Registry) {
  const reservations = new Counter({ name: 'shopgraph_coupon_reservations_total', help: 'reserveCoupon calls, by result', labelNames: ['result'], registers: [registry] });
  const redemptions = new Counter({ name: 'shopgraph_coupon_redemptions_total', help: 'Coupon uses committed (order confirmed) or released (order failed, cancelled or never placed)', labelNames: ['outcome'], registers: [registry] });
  const noted = new Map<string, RedemptionOutcome>();
  return {
    /** A reserveCoupon call ended (its transaction committed or rolled back). */
    reservation(result: string): void {
      reservations.inc({ result });
    },
    /** A saga step moved a redemption (in the step's transaction, not committed yet). */
    stepApplied(eventId: string, outcome: RedemptionOutcome): void {
      noted.set(eventId, outcome);
    },
    /** The consumer's outcome for an event: counted if its transaction committed. */
    onMessage(outcome: MessageOutcome): void {
      const step = outcome.eventId === undefined ? undefined : noted.get(outcome.eventId);
      if (!step) return;
      noted.delete(outcome.eventId!);
      if (outcome.result === 'processed') redemptions.inc({ outcome: step });
    },
    /** Redemptions the sweeper released, after its transaction committed. */
    released(count: number): void {
      if (count) redemptions.inc({ outcome: 'released' }, count);
    },
  };
}
