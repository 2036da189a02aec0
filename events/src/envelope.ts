import { z } from 'zod';

/**
 * Every message on every topic is one JSON envelope (CloudEvents-like). `subject` is the
 * aggregate id and also the Kafka key, so one aggregate's events stay in order on one partition.
 */
export const envelopeSchema = z.object({
  id: z.uuid(),
  type: z.string().regex(/^[a-z]+\.[a-z]+\.[a-z-]+$/),
  source: z.string().min(1),
  subject: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  dataVersion: z.number().int().positive(),
  traceparent: z.string().optional(),
  data: z.unknown(),
});

export type Envelope<D = unknown> = Omit<z.infer<typeof envelopeSchema>, 'data'> & { data: D };
