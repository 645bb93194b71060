/**
 * Group commit for send-to-api's staging writes. The senders hand each finished batch to `add` and go on with
 * the next one; one write at a time takes every batch finished meanwhile (up to `maxGroupJourneys` conversions)
 * and writes them in one transaction. Nothing waits for a timer: a batch finished while no write runs is written
 * at once, so a slow provider still gets each answer stored as it comes, and a fast one (the local engine) gets
 * several per transaction. `add` waits only while more than `maxPending` batches are queued, so memory stays
 * bounded; a failed write is thrown by the next `add` and by `close` (the batches not yet written are sent again
 * by the next run, as after a kill).
 */
export interface WriterLimits {
  /** batches queued before `add` waits for the writes */
  readonly maxPending: number;
  /** conversions per transaction; a batch larger than that is written alone */
  readonly maxGroupJourneys: number;
}

export class StagingWriter<R extends { readonly convIds: readonly string[] }> {
  private readonly queue: R[] = [];
  private busy = false;
  private failure: { readonly error: unknown } | undefined;
  private wake: Array<() => void> = [];

  constructor(
    private readonly write: (group: readonly R[]) => Promise<void>,
    private readonly limits: WriterLimits,
  ) {}

  async add(record: R): Promise<void> {
    this.check();
    this.queue.push(record);
    this.kick();
    while (this.queue.length > this.limits.maxPending && this.failure === undefined) await this.progress();
    this.check();
  }

  /** Resolves when everything queued is written; throws the first failed write. */
  async close(): Promise<void> {
    while (this.busy) await this.progress();
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }

  private progress(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve));
  }

  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    void (async () => {
      try {
        // `busy` is cleared in the same turn as the last emptiness check, so an `add` never finds a writer that has
        // stopped looking
        while (this.queue.length > 0 && this.failure === undefined) {
          let n = 0;
          let journeys = 0;
          while (n < this.queue.length && (n === 0 || journeys + this.queue[n]!.convIds.length <= this.limits.maxGroupJourneys)) {
            journeys += this.queue[n]!.convIds.length;
            n += 1;
          }
          const group = this.queue.splice(0, n);
          try {
            await this.write(group);
          } catch (e) {
            this.failure = { error: e };
          }
          this.notify();
        }
      } finally {
        this.busy = false;
        this.notify();
      }
    })();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const resolve of w) resolve();
  }
}
