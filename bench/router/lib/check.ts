// Are two gateways' answers the same JSON? Exact text first; failing that, the same values with
// keys in another order (reported, tolerated); else the first path where they differ.

export type Verdict = { same: true; note?: string } | { same: false; where: string };

export function compareAnswers(expected: string, actual: string): Verdict {
  if (expected === actual) return { same: true };
  let a: unknown, b: unknown;
  try {
    a = JSON.parse(expected);
    b = JSON.parse(actual);
  } catch {
    return { same: false, where: '(not JSON)' };
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return { same: true, note: 'same JSON, different formatting' };
  const where = firstDifference(a, b, '$');
  return where === null ? { same: true, note: 'same values, keys in a different order' } : { same: false, where };
}

function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) return `${path}: ${preview(a)} vs ${preview(b)}`;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: ${a.length} items vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a && b && typeof a === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b as object).sort();
    if (ka.join() !== kb.join()) return `${path}: keys {${ka.join(',')}} vs {${kb.join(',')}}`;
    for (const k of ka) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${preview(a)} vs ${preview(b)}`;
}

const preview = (v: unknown) => JSON.stringify(v)?.slice(0, 120) ?? String(v);
