import { scryptSync, type ScryptOptions } from 'node:crypto';

export interface Derivation {
  password: string;
  salt: Uint8Array;
  length: number;
  options: ScryptOptions;
}

/** One scrypt derivation, on this (lower-priority) thread: the synchronous call keeps it off libuv's pool. */
export default function derive({ password, salt, length, options }: Derivation): Uint8Array {
  return scryptSync(password, salt, length, options);
}
