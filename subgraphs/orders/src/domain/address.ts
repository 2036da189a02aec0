import { DomainError } from '@shopgraph/kit';
import type { Address } from '../entities/order.entity.ts';

/** The officially assigned ISO 3166-1 alpha-2 codes. */
const COUNTRIES = new Set(
  `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
   CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
   GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
   KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
   MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
   SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
   UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`.split(/\s+/).filter(Boolean),
);

export const isCountryCode = (code: string): boolean => COUNTRIES.has(code);

export interface AddressInput {
  name: string;
  line1: string;
  line2?: string | null;
  city: string;
  postalCode: string;
  country: string;
}

const FIELD = ['input', 'shippingAddress'];
const invalid = (field: keyof AddressInput, message: string) => new DomainError('INVALID_ADDRESS', message, [...FIELD, field]);

// Letters of any script, digits, spaces and the punctuation addresses use; no control characters.
const CONTROL = /[\p{Cc}\p{Cf}]/u;

function text(input: AddressInput, field: keyof AddressInput, label: string, max: number): string {
  const value = (input[field] ?? '').normalize('NFC').trim().replace(/\s+/g, ' ');
  if (!value) throw invalid(field, `${label} must not be empty`);
  if ([...value].length > max) throw invalid(field, `${label} must be at most ${max} characters`);
  if (CONTROL.test(value)) throw invalid(field, `${label} contains invalid characters`);
  return value;
}

/**
 * A shipping address fit to ship to, normalised (trimmed, single spaces, country upper case), or
 * INVALID_ADDRESS with the path of the first bad field (`["input", "shippingAddress", "country"]`).
 */
export function validAddress(input: AddressInput): Address {
  const name = text(input, 'name', 'Name', 100);
  const line1 = text(input, 'line1', 'Address line 1', 200);
  const line2 = input.line2?.trim() ? text(input, 'line2', 'Address line 2', 200) : null;
  const city = text(input, 'city', 'City', 100);
  const postalCode = text(input, 'postalCode', 'Postal code', 20).toUpperCase();
  if (!/^[\p{L}\p{N}][\p{L}\p{N} -]*$/u.test(postalCode)) throw invalid('postalCode', 'Postal code may contain only letters, digits, spaces and "-"');
  const country = input.country.trim().toUpperCase();
  if (!isCountryCode(country)) throw invalid('country', 'Country must be an ISO 3166-1 alpha-2 code, e.g. "DE"');
  return { name, line1, line2, city, postalCode, country };
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 100;

/** A client's idempotency key: 1–100 characters, taken as given (not trimmed: it is opaque). */
export function validIdempotencyKey(key: string): string {
  const length = [...key].length;
  if (length < 1 || length > MAX_IDEMPOTENCY_KEY_LENGTH || !key.trim() || CONTROL.test(key)) {
    throw new DomainError('INVALID_IDEMPOTENCY_KEY', `Idempotency key must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} printable characters`, ['input', 'idempotencyKey']);
  }
  return key;
}
