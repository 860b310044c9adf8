/** Welford's running mean and variance, for Monte Carlo truths and their standard errors. */
export class RunningMoments {
  private count = 0;
  private mean = 0;
  private m2 = 0;

  add(v: number): void {
    this.count++;
    const delta = v - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (v - this.mean);
  }

  /** The mean and the standard error of the mean. */
  estimate(): { value: number; se: number } {
    return { value: this.mean, se: Math.sqrt(this.m2 / (this.count - 1) / this.count) };
  }
}
