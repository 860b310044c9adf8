/** Fisher-Yates shuffle in place from a seeded uniform stream (Knuth, TAOCP vol. 2, Algorithm P). */
export function shuffleInPlace(a: Int32Array, rng: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
