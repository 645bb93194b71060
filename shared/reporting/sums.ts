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

/**
 * Orders and revenue added up per channel, each a CompensatedSum: the IHC column (from the credit cells) and every
 * local model's column of the model comparison are summed the same way. Channels come back in the order first seen.
 */
export class ChannelSums {
  private readonly by = new Map<string, { orders: CompensatedSum; revenue: CompensatedSum }>();

  /** `revenue` undefined: the orders only (a journey without revenue) */
  add(channel: string, orders: number, revenue: number | undefined): void {
    let sum = this.by.get(channel);
    if (sum === undefined) this.by.set(channel, (sum = { orders: new CompensatedSum(), revenue: new CompensatedSum() }));
    sum.orders.add(orders);
    if (revenue !== undefined) sum.revenue.add(revenue);
  }

  totals(): Array<{ channel_name: string; orders: number; revenue: number }> {
    return [...this.by].map(([channel_name, s]) => ({ channel_name, orders: s.orders.value, revenue: s.revenue.value }));
  }
}
