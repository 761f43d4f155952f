import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff';

describe('reconnect backoff', () => {
  it('doubles up to the ceiling, never below half of it', () => {
    const b = new Backoff(500, 8000, 5000, () => 1);
    expect([b.next(0), b.next(0), b.next(0), b.next(0), b.next(0), b.next(0)]).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
    const low = new Backoff(500, 8000, 5000, () => 0);
    expect([low.next(0), low.next(0), low.next(0)]).toEqual([250, 500, 1000]);
  });

  it('does not reset when a socket opens and drops at once', () => {
    const b = new Backoff(500, 30_000, 5000, () => 1);
    b.next(0);
    b.next(0);
    b.opened(10_000);
    expect(b.next(10_100)).toBe(2000);
    b.opened(20_000);
    expect(b.next(24_999)).toBe(4000);
  });

  it('resets once the socket stayed open long enough', () => {
    const b = new Backoff(500, 30_000, 5000, () => 1);
    b.next(0);
    b.next(0);
    b.next(0);
    b.opened(1000);
    expect(b.next(6000)).toBe(500);
    expect(b.next(6000)).toBe(1000);
  });
});
