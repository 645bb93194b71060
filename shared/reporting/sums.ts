/**
 * A running sum of floats with Kahan-Babuska-Neumaier compensation, the summation SQLite (3.43+) uses for SUM():
 * the model comparison adds the credit of every session as it is made, and its totals must not depend on how many
 * rows were added (a plain running sum of 336,000 credits drifts in the last digits that a CSV shows at scale 100).
 */
export class CompensatedSum {
  private sum = 0;
  private compensation = 0;

  add(x: number): void {
    const t = this.sum + x;
    // whichever operand is larger in magnitude keeps its low bits; the other's lost low bits are kept aside
    this.compensation += Math.abs(this.sum) >= Math.abs(x) ? this.sum - t + x : x - t + this.sum;
    this.sum = t;
  }

  get value(): number {
    // past a double's range the compensation is Infinity - Infinity: the overflowed sum is the answer
    return Number.isFinite(this.sum) ? this.sum + this.compensation : this.sum;
  }
}
