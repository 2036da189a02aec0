/** Formatters by currency: building an `Intl.NumberFormat` costs far more than using one. */
const formats = new Map<string, Intl.NumberFormat>();

/** E.g. `$12.50` for 1250 USD: minor units shown in the currency's own number of decimals. */
export function formatMoney({ amount, currency }: { amount: number; currency: string }): string {
  let format = formats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    formats.set(currency, format);
  }
  return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}
