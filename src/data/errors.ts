/**
 * A user mistake in the input (file, column, row, rule). The CLI prints `message` on one line and
 * exits 2; it never prints a stack trace for this class.
 */
export class InputError extends Error {
  readonly file?: string;
  readonly column?: string;
  readonly row?: number;
  readonly rule: string;

  constructor(rule: string, where: { file?: string; column?: string; row?: number; line?: number } = {}) {
    super(formatWhere(where) + rule);
    this.name = 'InputError';
    this.file = where.file;
    this.column = where.column;
    this.row = where.row;
    this.rule = rule;
  }
}

/** "log.csv: column 'propensity', row 3 (line 5): " — rows count from 0 as in pandas/polars/Arrow. */
export function formatWhere(where: { file?: string; column?: string; row?: number; line?: number }): string {
  const parts: string[] = [];
  if (where.column !== undefined) parts.push(`column '${where.column}'`);
  if (where.row !== undefined) parts.push(`row ${where.row}` + (where.line !== undefined ? ` (line ${where.line})` : ''));
  const head = where.file !== undefined ? `${where.file}: ` : '';
  return head + (parts.length > 0 ? parts.join(', ') + ': ' : '');
}

/** Usage mistakes on the command line (unknown estimator, bad parameter): also exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
