import type { LogBatch } from './batch.js';
import { InputError } from './errors.js';

/** Tolerance for "the joint propensity equals the last cascade propensity" (issue 4, item 1). */
export const JOINT_TOL = 1e-9;

interface SlateRow {
  readonly row: number;
  readonly position: number;
  readonly joint: number;
  readonly cascade?: number;
  readonly targetJoint?: number;
  readonly targetCascade?: number;
}

/**
 * The slate log contract (DESIGN.md §2), checked as the rows stream by: a slate is a run of
 * adjacent rows with one slate_id; it has positions 0..L-1 once each, with the same L for every
 * slate; the joint propensity is the same on all its rows; the cascade (prefix) propensities never
 * increase along the slate, and the last one equals the joint propensity within 1e-9 relative.
 * The same holds for the target's columns when the log carries them. propensity_item_positions
 * (and target_propensity_item_positions) have one entry per position, so their width is L. Errors
 * name the file, the slate and the position.
 */
export class SlateChecker {
  private readonly file: string;
  private current: SlateRow[] = [];
  private currentId: string | number | null = null;
  private length: number | undefined;
  /** Widths of the slate lists (fixed per file by the reader), with the contract column names. */
  private widths: { readonly column: string; readonly width: number }[] = [];
  private readonly finished = new Set<string | number>();
  slates = 0;

  constructor(file: string) {
    this.file = file;
  }

  add(b: LogBatch, ids: ReadonlyArray<string | number | null>): void {
    if (b.position === undefined) throw new InputError('a slate log needs a position column (0 = top)', { file: this.file, column: 'position' });
    this.widths = [];
    if (b.propensityItemPositions !== undefined) this.widths.push({ column: 'propensity_item_positions', width: b.propensityItemPositions.width });
    if (b.targetPropensityItemPositions !== undefined) this.widths.push({ column: 'target_propensity_item_positions', width: b.targetPropensityItemPositions.width });
    for (let i = 0; i < b.n; i++) {
      const id = ids[i];
      if (id === null) throw new InputError('slate_id is missing', { file: this.file, column: 'slate_id', row: b.rowOffset + i });
      if (id !== this.currentId) {
        this.close();
        if (this.finished.has(id)) {
          throw new InputError(`slate ${id}: its rows must be adjacent, but it appears again after other slates`, { file: this.file, column: 'slate_id', row: b.rowOffset + i });
        }
        this.currentId = id;
      }
      this.current.push({
        row: b.rowOffset + i,
        position: b.position[i],
        joint: b.propensity[i],
        cascade: b.propensityCascade?.[i],
        targetJoint: b.targetPropensity?.[i],
        targetCascade: b.targetPropensityCascade?.[i],
      });
    }
  }

  /** Checks the last slate; call once after the last batch. */
  finish(): void {
    this.close();
  }

  private fail(rule: string, column: string, r: SlateRow): never {
    throw new InputError(`slate ${String(this.currentId)}, position ${r.position}: ${rule}`, { file: this.file, column, row: r.row });
  }

  private close(): void {
    const rows = this.current;
    if (rows.length === 0 || this.currentId === null) return;
    const L = rows.length;
    const byPosition = new Array<SlateRow | undefined>(L).fill(undefined);
    for (const r of rows) {
      if (r.position >= L) this.fail(`position ${r.position} is out of range: the slate has ${L} rows, so positions 0..${L - 1}`, 'position', r);
      if (byPosition[r.position] !== undefined) this.fail(`position ${r.position} appears twice in the slate`, 'position', r);
      byPosition[r.position] = r;
    }
    if (this.length === undefined) this.length = L;
    else if (L !== this.length) this.fail(`the slate has ${L} positions but earlier slates have ${this.length}: every slate must have positions 0..L-1`, 'position', rows[0]);
    const ordered = byPosition as SlateRow[];
    for (const { column, width } of this.widths) {
      if (width !== L) {
        this.fail(`${column} has ${width} entries per row but the slate has L = ${L} positions: it holds the item's probability at every position 0..L-1`, column, ordered[0]);
      }
    }
    this.checkChain(
      ordered,
      (r) => r.joint,
      (r) => r.cascade,
      'propensity',
      'propensity_cascade',
    );
    this.checkChain(
      ordered,
      (r) => r.targetJoint,
      (r) => r.targetCascade,
      'target_propensity',
      'target_propensity_cascade',
    );
    this.finished.add(this.currentId);
    this.slates++;
    this.current = [];
  }

  private checkChain(rows: readonly SlateRow[], joint: (r: SlateRow) => number | undefined, cascade: (r: SlateRow) => number | undefined, jointName: string, cascadeName: string): void {
    const j0 = joint(rows[0]);
    if (j0 === undefined) return;
    for (const r of rows) {
      if (joint(r) !== j0) this.fail(`${jointName} is the probability of the whole slate and must be the same on all its rows; got ${joint(r)} here and ${j0} at position 0`, jointName, r);
    }
    if (cascade(rows[0]) === undefined) return;
    for (let k = 1; k < rows.length; k++) {
      const prev = cascade(rows[k - 1]) as number;
      const cur = cascade(rows[k]) as number;
      if (cur > prev) this.fail(`${cascadeName} ${cur} is larger than at position ${k - 1} (${prev}): the probability of a longer prefix cannot increase`, cascadeName, rows[k]);
    }
    const last = rows[rows.length - 1];
    const c = cascade(last) as number;
    if (!(Math.abs(c - j0) <= JOINT_TOL * Math.max(Math.abs(c), Math.abs(j0)))) {
      this.fail(`${jointName} ${j0} must equal the last ${cascadeName} of the slate (${c}) within ${JOINT_TOL} relative`, jointName, last);
    }
  }
}
