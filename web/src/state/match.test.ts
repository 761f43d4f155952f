import { describe, expect, it } from 'vitest';
import { conv } from '../test/fixtures';
import { compareFor, matchesList, startOfTodayIn } from './match';

const now = Date.parse('2026-12-09T15:00:00Z'); // a Wednesday
const ctx = { me: 'me', now, startOfToday: Date.parse('2026-12-09T00:00:00Z') };

describe('placing a live conversation by the API rules', () => {
  it('matches every view as docs/conversations.md defines it', () => {
    const mine = conv({ assignee_id: 'me' });
    expect(matchesList(mine, { view: 'mine.needs_attention' }, ctx)).toBe(true);
    expect(matchesList({ ...mine, last_message_sender_kind: 'ai' }, { view: 'mine.needs_attention' }, ctx)).toBe(false);
    expect(matchesList({ ...mine, last_message_sender_kind: 'ai' }, { view: 'mine.waiting_for_customer' }, ctx)).toBe(true);
    expect(matchesList({ ...mine, status: 'pending' }, { view: 'mine.ready_to_close' }, ctx)).toBe(true);
    expect(matchesList(conv(), { view: 'team.unassigned' }, ctx)).toBe(true);
    expect(matchesList(conv({ needs_human: true }), { view: 'team.unassigned' }, ctx)).toBe(false);
    expect(matchesList(conv({ needs_human: true, assignee_id: 'x' }), { view: 'team.needs_review' }, ctx)).toBe(true);
    expect(matchesList(conv({ assignee_id: 'x' }), { view: 'team.in_progress' }, ctx)).toBe(true);
    expect(matchesList(conv({ status: 'resolved', assignee_id: 'x' }), { view: 'team.in_progress' }, ctx)).toBe(false);
    const resolved = conv({ status: 'resolved', status_changed_at: '2026-12-09T08:00:00Z' });
    expect(matchesList(resolved, { view: 'all.resolved_today' }, ctx)).toBe(true);
    expect(matchesList({ ...resolved, status_changed_at: '2026-12-08T23:00:00Z' }, { view: 'all.resolved_today' }, ctx)).toBe(false);
  });

  it('combines filters: status, channel, priority, assignment, team, needs human, time windows', () => {
    const c = conv({ channel: 'webchat', priority: 'high', assignee_id: 'x', team_id: 't1', last_message_at: '2026-12-08T10:00:00Z', created_at: '2026-11-20T10:00:00Z' });
    expect(matchesList(c, { status: 'active,pending', channel: 'web,telephony', priority: 'high' }, ctx)).toBe(true);
    expect(matchesList(c, { assigned: 'others', team: 't1', needs_human: false }, ctx)).toBe(true);
    expect(matchesList(c, { assigned: 'me' }, ctx)).toBe(false);
    expect(matchesList(c, { assigned: 'unassigned' }, ctx)).toBe(false);
    expect(matchesList(c, { time: 'today' }, ctx)).toBe(false);
    expect(matchesList(c, { time: 'week' }, ctx)).toBe(true); // Monday the 7th
    expect(matchesList(c, { time: 'week', time_field: 'created' }, ctx)).toBe(false);
    expect(matchesList(c, { time: 'month', time_field: 'created' }, ctx)).toBe(false);
    expect(matchesList(c, { time: 'range', from: '2026-12-08T00:00:00Z', to: '2026-12-09T00:00:00Z' }, ctx)).toBe(true);
    expect(matchesList(c, { ids: `a,${c.id}` }, ctx)).toBe(true);
  });

  it('sorts as the API does', () => {
    const a = conv({ last_message_at: '2026-12-09T10:00:00Z', priority: 'low', channel: 'webchat', assignee_id: 'x' });
    const b = conv({ last_message_at: '2026-12-09T09:00:00Z', priority: 'urgent', channel: 'telephony' });
    const c = conv({ last_message_at: '2026-12-09T08:00:00Z', priority: 'urgent', channel: 'whatsapp', assignee_id: 'y' });
    const order = (sort: string) => [a, b, c].sort(compareFor(sort)).map((x) => x.id);
    expect(order('recent')).toEqual([a.id, b.id, c.id]);
    expect(order('oldest')).toEqual([c.id, b.id, a.id]);
    expect(order('priority')).toEqual([b.id, c.id, a.id]);
    expect(order('channel')).toEqual([c.id, b.id, a.id]);
    expect(order('assignment')).toEqual([b.id, a.id, c.id]);
  });

  it("knows midnight in the tenant's zone", () => {
    expect(new Date(startOfTodayIn('UTC', now)).toISOString()).toBe('2026-12-09T00:00:00.000Z');
    expect(new Date(startOfTodayIn('America/Sao_Paulo', now)).toISOString()).toBe('2026-12-09T03:00:00.000Z');
    expect(new Date(startOfTodayIn('Asia/Tokyo', Date.parse('2026-12-09T16:00:00Z'))).toISOString()).toBe('2026-12-09T15:00:00.000Z');
  });
});
