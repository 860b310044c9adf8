/** Range checks of generator configs: a RangeError naming the field (the CLI maps it to its flag). */
export function requireInteger(name: string, value: number, min: number, max: number = Number.MAX_SAFE_INTEGER): void {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export function requireFinite(name: string, value: number, min: number, strict: boolean): void {
  if (!(Number.isFinite(value) && (strict ? value > min : value >= min))) {
    throw new RangeError(`${name} must be a finite number ${strict ? '>' : '>='} ${min}, got ${value}`);
  }
}
