/**
 * Reconnect delays: doubling from `base` to `max`, with jitter, reset only once a connection
 * has stayed open `stableMs` (a socket that opens and drops at once must not reconnect in a
 * tight loop).
 */
export class Backoff {
  private attempt = 0;
  private openedAt: number | null = null;

  constructor(
    private readonly base = 500,
    private readonly max = 30_000,
    private readonly stableMs = 5_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The connection opened at `now`. */
  opened(now: number): void {
    this.openedAt = now;
  }

  /** The connection closed at `now`: the delay before the next try. */
  next(now: number): number {
    if (this.openedAt !== null && now - this.openedAt >= this.stableMs) this.attempt = 0;
    this.openedAt = null;
    const ceiling = Math.min(this.max, this.base * 2 ** this.attempt);
    this.attempt += 1;
    // "Equal jitter": at least half the ceiling, so delays still grow.
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  get attempts(): number {
    return this.attempt;
  }
}
