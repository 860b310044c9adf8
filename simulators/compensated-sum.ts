/** Neumaier summation: a truth summed over 1e7 rows or slates keeps ~15 digits instead of ~9. */
export class CompensatedSum {
  private sum = 0;
  private compensation = 0;

  add(v: number): void {
    const t = this.sum + v;
    if (Math.abs(this.sum) >= Math.abs(v)) this.compensation += this.sum - t + v;
    else this.compensation += v - t + this.sum;
    this.sum = t;
  }

  total(): number {
    return this.sum + this.compensation;
  }
}
