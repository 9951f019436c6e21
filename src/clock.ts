/**
 * The server's notion of "now" where a decision depends on it and a test must be able to move it: the grace period
 * of a rotated-out client secret (threat model F3). Injected through createApp/startServer, never a global.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock a test moves by hand; it starts at the real time. */
export class ManualClock implements Clock {
  private offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
