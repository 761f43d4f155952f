import { describe, expect, it } from 'vitest';
import type { AppNotification, NotificationPage } from '../api/notifications';
import { countAfterLive, cueFor, draftOf, levelOf, markedRead, preferencesChange, withLiveNotification } from './notify';

const n = (over: Partial<AppNotification> = {}): AppNotification => ({
  id: 'n1',
  type: 'assigned',
  conversation_id: 'c1',
  title: 'Assigned to you',
  body: 'Ana: hello',
  level: 'all',
  sound: true,
  browser: true,
  sla_target: null,
  due_at: null,
  created_at: '2031-03-01T10:00:00Z',
  read_at: null,
  ...over,
});
const inFront = { openConversation: null, hidden: false, permission: 'granted' };

describe('the cue of a live notification follows the server', () => {
  it('plays the sound the server asks for and shows a toast while the tab is in front', () => {
    expect(cueFor(n(), inFront)).toEqual({ toast: true, sound: true, browser: false });
    expect(cueFor(n({ level: 'visual', sound: false, browser: false }), inFront)).toEqual({ toast: true, sound: false, browser: false });
  });

  it('shows a browser notification only when asked, allowed and the tab is hidden', () => {
    const hidden = { ...inFront, hidden: true };
    expect(cueFor(n(), hidden)).toEqual({ toast: false, sound: true, browser: true });
    expect(cueFor(n(), { ...hidden, permission: 'denied' }).browser).toBe(false);
    // Lowered by do-not-disturb or quiet hours: the server says no sound, no browser.
    expect(cueFor(n({ level: 'visual', sound: false, browser: false }), hidden)).toEqual({ toast: true, sound: false, browser: false });
  });

  it('stays quiet about the conversation the agent is reading, and at level none', () => {
    expect(cueFor(n(), { ...inFront, openConversation: 'c1' })).toEqual({ toast: false, sound: false, browser: false });
    expect(cueFor(n(), { ...inFront, openConversation: 'c1', hidden: true }).browser).toBe(true);
    expect(cueFor(n({ level: 'none' }), inFront)).toEqual({ toast: false, sound: false, browser: false });
  });
});

describe('the centre updated live', () => {
  const page: NotificationPage = { items: [n({ id: 'old', read_at: '2031-03-01T09:00:00Z' })], next_cursor: null, unread_count: 0 };

  it('puts a new notification on top once and counts it unread once', () => {
    const once = withLiveNotification(page, n())!;
    expect(once.items.map((x) => x.id)).toEqual(['n1', 'old']);
    expect(once.unread_count).toBe(1);
    expect(withLiveNotification(once, n())).toBe(once);
    expect(withLiveNotification(undefined, n())).toBeUndefined();
    expect(countAfterLive(3, n(), false)).toBe(4);
    expect(countAfterLive(3, n(), true)).toBe(3);
    expect(countAfterLive(undefined, n(), false)).toBeUndefined();
  });

  it('marks some or all read, keeping the time of those read before', () => {
    const pages = [{ ...page, items: [n({ id: 'a' }), n({ id: 'b' }), n({ id: 'old', read_at: 'earlier' })] }];
    const some = markedRead(pages, ['a'], 'now')[0].items;
    expect(some.map((x) => x.read_at)).toEqual(['now', null, 'earlier']);
    const all = markedRead(pages, null, 'now')[0].items;
    expect(all.map((x) => x.read_at)).toEqual(['now', 'now', 'earlier']);
  });
});

describe('preferences', () => {
  const prefs = { types: { assigned: 'visual' as const }, do_not_disturb: false, quiet_hours_start: null, quiet_hours_end: null, time_zone: 'UTC' };

  it('reads a type left out as the service default', () => {
    expect(levelOf(prefs, 'assigned')).toBe('visual');
    expect(levelOf(prefs, 'new_conversation')).toBe('sound_visual');
    expect(levelOf(undefined, 'status_changed')).toBe('none');
  });

  it('saves quiet hours as a pair of times, or clears both', () => {
    const d = draftOf(prefs);
    expect(preferencesChange(d)).toEqual({
      ok: true,
      change: { types: { assigned: 'visual' }, do_not_disturb: false, quiet_hours_start: '', quiet_hours_end: '' },
    });
    expect(preferencesChange({ ...d, quiet_hours_start: '22:00', quiet_hours_end: '07:00' })).toMatchObject({ ok: true, change: { quiet_hours_start: '22:00' } });
    expect(preferencesChange({ ...d, quiet_hours_start: '22:00' })).toMatchObject({ ok: false });
    expect(preferencesChange({ ...d, quiet_hours_start: '25:00', quiet_hours_end: '07:00' })).toMatchObject({ ok: false });
    expect(preferencesChange({ ...d, quiet_hours_start: '07:00', quiet_hours_end: '07:00' })).toMatchObject({ ok: false });
  });
});
