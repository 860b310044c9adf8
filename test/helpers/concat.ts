/** A numeric column of a generated batch. */
export type NumericArray = Float64Array | Int32Array;

/** Concatenates one numeric column across batches, as Float64Array (tests compare whole columns). */
export function concatColumn<B>(batches: readonly B[], pick: (b: B) => Float64Array | Int32Array): Float64Array {
  const parts = batches.map(pick);
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
