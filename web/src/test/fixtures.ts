import type { Conversation, Message } from '../api/types';

let n = 0;

export function conv(over: Partial<Conversation> = {}): Conversation {
  n += 1;
  return {
    id: `c${n}`,
    channel: 'whatsapp',
    channel_account_id: 'acc',
    customer_address: '5511987650001',
    contact: { id: `k${n}`, display_name: `Customer ${n}`, segment: '' },
    status: 'active',
    priority: 'normal',
    last_message_at: '2026-12-06T10:00:00.000Z',
    last_message_preview: 'hello',
    created_at: '2026-12-06T09:00:00.000Z',
    updated_at: '2026-12-06T10:00:00.000Z',
    version: 1,
    last_message_sender_kind: 'customer',
    status_changed_at: '2026-12-06T09:00:00.000Z',
    priority_source: 'default',
    priority_reason: '',
    assignee_id: null,
    team_id: null,
    assigned_at: null,
    handled_by: 'ai',
    needs_human: false,
    needs_human_reason: '',
    summary: '',
    last_customer_message_at: '2026-12-06T10:00:00.000Z',
    ...over,
  };
}

export function msg(over: Partial<Message> = {}): Message {
  n += 1;
  return {
    id: `m${n}`,
    conversation_id: 'c1',
    channel: 'whatsapp',
    external_id: `wamid.${n}`,
    sender_kind: 'customer',
    sender_id: '',
    content: { type: 'text', text: `text ${n}` },
    sent_at: '2026-12-06T10:00:00.000Z',
    created_at: '2026-12-06T10:00:00.000Z',
    internal_note: false,
    ...over,
  };
}
