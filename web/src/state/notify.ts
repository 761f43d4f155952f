// In-app notifications from the live stream, by the agent's preferences (Settings ›
// Notifications › Inbox): a toast (visual), a short sound, and a browser notification for
// "all alerts" when the tab is hidden. The notification centre comes with the notification
// service; these need only the frames the gateway already sends.

import type { StreamFrame } from '../api/types';
import { customerLabel } from './format';

export type NotifyKind = 'new_conversation' | 'assigned_to_me' | 'customer_reply' | 'status_change';
export type NotifyLevel = 'all' | 'sound_visual' | 'visual' | 'none';

export const NOTIFY_KEY = 'inbox.notification-preferences';
export const NOTIFY_DEFAULTS: Record<NotifyKind, NotifyLevel> = {
  new_conversation: 'sound_visual',
  assigned_to_me: 'all',
  customer_reply: 'visual',
  status_change: 'none',
};

export interface Notice {
  kind: NotifyKind;
  level: NotifyLevel;
  title: string;
  body: string;
  conversationId: string;
}

export function readPreferences(storage: Pick<Storage, 'getItem'> | null): Record<NotifyKind, NotifyLevel> {
  try {
    return { ...NOTIFY_DEFAULTS, ...(JSON.parse(storage?.getItem(NOTIFY_KEY) ?? '{}') as Partial<Record<NotifyKind, NotifyLevel>>) };
  } catch {
    return { ...NOTIFY_DEFAULTS };
  }
}

/** What a frame tells this agent, if anything, at the level they chose. */
export function noticeFor(frame: StreamFrame, me: string, prefs: Record<NotifyKind, NotifyLevel>, openConversation: string | null): Notice | null {
  let notice: Omit<Notice, 'level'> | null = null;
  switch (frame.type) {
    case 'conversation.created':
      if (frame.conversation) {
        notice = { kind: 'new_conversation', title: 'New conversation', body: customerLabel(frame.conversation), conversationId: frame.conversation.id };
      }
      break;
    case 'conversation.assigned':
    case 'conversation.taken_over': {
      const c = frame.conversation;
      const byMe = frame.type === 'conversation.taken_over' || frame.actor === `user:${me}`;
      if (c && c.assignee_id === me && frame.previous_assignee_id !== me && !byMe) {
        notice = { kind: 'assigned_to_me', title: 'Assigned to you', body: `${customerLabel(c)}${frame.note ? `: ${frame.note}` : ''}`, conversationId: c.id };
      }
      break;
    }
    case 'message.created': {
      const c = frame.conversation;
      const m = frame.message;
      // The first message of a conversation is announced as a new conversation.
      if (c && m && m.sender_kind === 'customer' && c.assignee_id === me && c.id !== openConversation && c.version > 1) {
        notice = { kind: 'customer_reply', title: `${customerLabel(c)} replied`, body: c.last_message_preview, conversationId: c.id };
      }
      break;
    }
    case 'conversation.status_changed': {
      const c = frame.conversation;
      if (c && c.assignee_id === me && frame.change && frame.change.actor !== `user:${me}`) {
        notice = { kind: 'status_change', title: `${customerLabel(c)}: ${c.status}`, body: frame.change.reason, conversationId: c.id };
      }
      break;
    }
    default:
      break;
  }
  if (!notice) return null;
  const level = prefs[notice.kind];
  return level === 'none' ? null : { ...notice, level };
}

let audio: AudioContext | null = null;

/** A short two-tone chime (no sound file to ship). */
export function chime(): void {
  try {
    audio ??= new AudioContext();
    const t = audio.currentTime;
    for (const [i, f] of [880, 1320].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.15, t + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.12 + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + i * 0.12);
      osc.stop(t + i * 0.12 + 0.3);
    }
  } catch {
    // No audio: the visual part still shows.
  }
}
