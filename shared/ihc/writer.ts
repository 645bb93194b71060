/**
 * Group commit for send-to-api's staging writes. The senders hand each finished batch to `add` and go on with
 * the next one; a write takes the batches finished meanwhile (up to `maxGroupJourneys` conversions) and writes
 * them in one transaction. A write starts when a group is full, or `lingerMs` after the first batch of a group
 * was queued: a slow provider's answers are stored a moment after they come, and a fast one (the local engine)
 * fills groups, one commit for many batches. Up to `maxWriters` writes run at once, each on its own group (a
 * second starts only while the others write and batches wait; none lingers while another does). `add` waits
 * only while more than `maxPending` batches are queued, so memory stays bounded; a failed write is thrown by the
 * next `add` and by `close`, and no group is started after it (the batches not yet written are sent again by
 * the next run, as after a kill).
 */
export interface WriterLimits {
  /** batches queued before `add` waits for the writes */
  readonly maxPending: number;
  /** conversions per transaction; a batch larger than that is written alone */
  readonly maxGroupJourneys: number;
  /** how long a group that is not full waits for more batches */
  readonly lingerMs: number;
  /** groups written at once (default 1: in order, one after the other) */
  readonly maxWriters?: number;
}

export class StagingWriter<R extends { readonly convIds: readonly string[] }> {
  private readonly queue: R[] = [];
  /** writes running (or lingering before their group) */
  private running = 0;
  private lingering = false;
  private failure: { readonly error: unknown } | undefined;
  private wake: Array<() => void> = [];
  private closing = false;
  private queuedJourneys = 0;
  /** ends the current linger early (group full, writer closing, or senders waiting) */
  private stopLinger: (() => void) | undefined;

  constructor(
    private readonly write: (group: readonly R[]) => Promise<void>,
    private readonly limits: WriterLimits,
  ) {}

  async add(record: R): Promise<void> {
    this.check();
    this.queue.push(record);
    this.queuedJourneys += record.convIds.length;
    if (this.queuedJourneys >= this.limits.maxGroupJourneys || this.queue.length > this.limits.maxPending) this.stopLinger?.();
    this.kick();
    while (this.queue.length > this.limits.maxPending && this.failure === undefined) await this.progress();
    this.check();
  }

  /** Resolves when everything queued is written; throws the first failed write. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopLinger?.();
    while (this.running > 0) await this.progress();
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }

  private progress(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve));
  }

  private kick(): void {
    // a lingering write takes what comes meanwhile; another starts only beside writes busy with their groups
    if (this.lingering || this.running >= (this.limits.maxWriters ?? 1)) return;
    this.running += 1;
    void (async () => {
      try {
        // `running` drops in the same turn as the last emptiness check, so an `add` never finds only writes that
        // have stopped looking
        while (this.queue.length > 0 && this.failure === undefined && !this.lingering) {
          if (!this.closing && this.queuedJourneys < this.limits.maxGroupJourneys && this.queue.length <= this.limits.maxPending) {
            this.lingering = true;
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, this.limits.lingerMs);
              this.stopLinger = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            this.stopLinger = undefined;
            this.lingering = false;
            if (this.queue.length === 0 || this.failure !== undefined) break;
          }
          let n = 0;
          let journeys = 0;
          while (n < this.queue.length && (n === 0 || journeys + this.queue[n]!.convIds.length <= this.limits.maxGroupJourneys)) {
            journeys += this.queue[n]!.convIds.length;
            n += 1;
          }
          const group = this.queue.splice(0, n);
          this.queuedJourneys -= journeys;
          // batches left behind (the group was full): another write may take them meanwhile
          if (this.queue.length > 0) this.kick();
          try {
            await this.write(group);
          } catch (e) {
            this.failure ??= { error: e };
          }
          this.notify();
        }
      } finally {
        this.running -= 1;
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
