import { describe, expect, it } from 'vitest';
import { conv, msg } from '../test/fixtures';
import { NOTIFY_DEFAULTS, noticeFor, readPreferences } from './notify';

describe('notifications from live frames', () => {
  it('announces a new conversation at the chosen level', () => {
    const c = conv({ contact: { id: 'k', display_name: 'Ana', segment: '' } });
    expect(noticeFor({ type: 'conversation.created', conversation: c }, 'me', NOTIFY_DEFAULTS, null)).toMatchObject({
      kind: 'new_conversation',
      level: 'sound_visual',
      body: 'Ana',
    });
    expect(noticeFor({ type: 'conversation.created', conversation: c }, 'me', { ...NOTIFY_DEFAULTS, new_conversation: 'none' }, null)).toBeNull();
  });

  it('tells me when someone else assigns me, not when I take it myself', () => {
    const c = conv({ assignee_id: 'me' });
    const frame = { type: 'conversation.assigned' as const, conversation: c, previous_assignee_id: '', actor: 'user:boss', note: 'VIP' };
    expect(noticeFor(frame, 'me', NOTIFY_DEFAULTS, null)).toMatchObject({ kind: 'assigned_to_me', level: 'all' });
    expect(noticeFor({ ...frame, actor: 'user:me' }, 'me', NOTIFY_DEFAULTS, null)).toBeNull();
    expect(noticeFor({ ...frame, conversation: conv({ assignee_id: 'other' }) }, 'me', NOTIFY_DEFAULTS, null)).toBeNull();
  });

  it('tells me a customer of mine replied, unless I am reading that conversation', () => {
    const c = conv({ assignee_id: 'me', version: 4 });
    const frame = { type: 'message.created' as const, conversation: c, message: msg({ conversation_id: c.id }) };
    expect(noticeFor(frame, 'me', NOTIFY_DEFAULTS, null)).toMatchObject({ kind: 'customer_reply', level: 'visual' });
    expect(noticeFor(frame, 'me', NOTIFY_DEFAULTS, c.id)).toBeNull();
    expect(noticeFor({ ...frame, message: msg({ sender_kind: 'agent' }) }, 'me', NOTIFY_DEFAULTS, null)).toBeNull();
  });

  it('reads stored preferences over the defaults, and survives garbage', () => {
    expect(readPreferences({ getItem: () => '{"status_change":"visual"}' }).status_change).toBe('visual');
    expect(readPreferences({ getItem: () => 'nope' })).toEqual(NOTIFY_DEFAULTS);
  });
});
