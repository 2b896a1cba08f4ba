// The timing protocol shared by the Node peers (python_peers.py implements the same plan()).
// With `slices: k` the data is cut into k disjoint slices, one per timed repetition (a 10,000-pair
// run as 5 x 2,000); otherwise every repetition scores all of it. One untimed warm-up first.
export function plan(w, data) {
  const k = w.slices;
  if (!k) return { warm: data, parts: Array.from({ length: w.reps }, () => data) };
  const size = Math.floor(data.length / k);
  const parts = Array.from({ length: k }, (_, i) => data.slice(i * size, (i + 1) * size));
  return { warm: parts[0].slice(0, Math.max(1, Math.min(200, size))), parts };
}

export function itemsOf(w, data) {
  return w.kind === 'rerank' ? data.reduce((n, s) => n + s.documents.length, 0) : data.length;
}

/** Runs make(w, part)() for the warm-up and each part; returns seconds per part. */
export async function timed(w, data, make) {
  const { warm, parts } = plan(w, data);
  await make(w, warm)();
  const seconds = [];
  for (const part of parts) {
    const fn = make(w, part);
    const t = performance.now();
    await fn();
    seconds.push((performance.now() - t) / 1000);
  }
  return { seconds, items: itemsOf(w, parts[0]), parts };
}

/** crossrank's scheduler counters (ce.stats()) accumulated between two snapshots. */
export function statsSince(before, after) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
}

/** Of the positions the model computed, the share that was padding, in percent. */
export function paddingPercent(stats) {
  return 100 * (1 - stats.tokens / stats.paddedTokens);
}
