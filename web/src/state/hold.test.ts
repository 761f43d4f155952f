import { describe, expect, it } from 'vitest';
import { heldRows } from './hold';

const row = (id: string, updated = '2026-12-06T10:00:00Z') => ({ id, updated_at: updated });

function known(...rows: { id: string; updated_at: string }[]) {
  return new Map(rows.map((r) => [r.id, r]));
}

describe('a held list', () => {
  it('shows the live order when nothing holds it', () => {
    const live = [row('a'), row('b')];
    expect(heldRows(live, null, known(...live))).toEqual({ rows: live, newCount: 0 });
  });

  it('keeps every row in its place while a new conversation arrives at the top, and counts it', () => {
    const since = Date.parse('2026-12-06T11:00:00Z');
    const a = row('a');
    const b = row('b');
    const fresh = row('n', '2026-12-06T11:05:00Z');
    const r = heldRows([fresh, a, b], { ids: ['a', 'b'], since }, known(a, b, fresh));
    expect(r.rows.map((x) => x.id)).toEqual(['a', 'b']);
    expect(r.newCount).toBe(1);
  });

  it('updates a row in place when it would move up, and counts the move', () => {
    const since = Date.parse('2026-12-06T11:00:00Z');
    const a = row('a');
    const b = row('b', '2026-12-06T11:02:00Z');
    const r = heldRows([b, a], { ids: ['a', 'b'], since }, known(a, b));
    expect(r.rows.map((x) => x.id)).toEqual(['a', 'b']);
    expect(r.rows[1]).toBe(b);
    expect(r.newCount).toBe(1);
  });

  it('appends the next page loaded while scrolling, without counting it as new', () => {
    const a = row('a');
    const b = row('b');
    const c = row('c');
    const r = heldRows([a, b, c], { ids: ['a', 'b'], since: 0 }, known(a, b, c));
    expect(r.rows.map((x) => x.id)).toEqual(['a', 'b', 'c']);
    expect(r.newCount).toBe(0);
  });

  it('keeps a row that left the view where it was until the list is released', () => {
    const a = row('a');
    const b = row('b');
    const r = heldRows([b], { ids: ['a', 'b'], since: 0 }, known(a, b));
    expect(r.rows.map((x) => x.id)).toEqual(['a', 'b']);
  });
});
