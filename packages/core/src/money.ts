/** By currency: a formatter and its minor units per unit. Building an `Intl.NumberFormat` costs far more than using one. */
const formats = new Map<string, { format: Intl.NumberFormat; minorPerUnit: number }>();

/** E.g. `$12.50` for 1250 USD: minor units shown in the currency's own number of decimals. */
export function formatMoney({ amount, currency }: { amount: number; currency: string }): string {
  let known = formats.get(currency);
  if (!known) {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    known = { format, minorPerUnit: 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2) };
    formats.set(currency, known);
  }
  return known.format.format(amount / known.minorPerUnit);
}
