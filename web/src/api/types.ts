// The gateway's JSON shapes (services/gateway/src/api/*.rs), as the screen reads them.

import type { AppNotification } from './notifications';

export type Channel = 'whatsapp' | 'telephony' | 'webchat';
export type Status = 'active' | 'pending' | 'resolved' | 'archived';
export type Priority = 'urgent' | 'high' | 'normal' | 'low';
export type SenderKind = 'customer' | 'agent' | 'ai' | 'system' | 'unspecified';
export type Role = 'admin' | 'supervisor' | 'agent' | 'ai';
export type Availability = 'online' | 'away' | 'offline';

export const CHANNELS: Channel[] = ['whatsapp', 'telephony', 'webchat'];
export const STATUSES: Status[] = ['active', 'pending', 'resolved', 'archived'];
export const PRIORITIES: Priority[] = ['urgent', 'high', 'normal', 'low'];

export interface Contact {
  id: string;
  display_name: string;
  segment: string;
}

export interface VisitorPage {
  url: string;
  title: string;
  referrer: string;
  at: string | null;
}

export interface Visitor {
  id: string;
  name: string;
  email: string;
  browser: string;
  user_agent: string;
  locale: string;
  first_seen_at: string | null;
  last_seen_at: string | null;
  current_page: VisitorPage | null;
  pages: VisitorPage[];
}

export interface Conversation {
  id: string;
  channel: Channel;
  channel_account_id: string;
  customer_address: string;
  contact: Contact | null;
  status: Status;
  priority: Priority;
  last_message_at: string | null;
  last_message_preview: string;
  created_at: string | null;
  updated_at: string | null;
  version: number;
  last_message_sender_kind: SenderKind;
  status_changed_at: string | null;
  priority_source: string;
  priority_reason: string;
  assignee_id: string | null;
  team_id: string | null;
  assigned_at: string | null;
  handled_by: 'ai' | 'human' | string;
  needs_human: boolean;
  needs_human_reason: string;
  summary: string;
  last_customer_message_at: string | null;
  visitor?: Visitor;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface ReplyTo {
  external_id: string;
  from: string;
  forwarded: boolean;
  frequently_forwarded: boolean;
}

export interface CallRecording {
  recording_sid: string;
  url: string;
  duration_seconds: number;
  status: string;
  voicemail: boolean;
}

export interface CallTranscript {
  transcription_sid: string;
  recording_sid: string;
  text: string;
  status: string;
}

export type Disposition = 'answered' | 'missed' | 'voicemail' | 'busy' | 'failed';

export type MessageContent = { reply_to?: ReplyTo } & (
  | { type: 'text'; text: string }
  | {
      type: 'media';
      kind: 'image' | 'audio' | 'voice' | 'video' | 'document' | 'sticker' | 'file';
      media_id: string;
      mime_type: string;
      sha256: string;
      caption: string;
      filename: string;
      size_bytes: number;
      url?: string;
    }
  | { type: 'location'; latitude: number; longitude: number; name: string; address: string; url: string }
  | {
      type: 'contacts';
      contacts: {
        formatted_name: string;
        phones: { phone: string; type: string; wa_id: string }[];
        emails: { email: string; type: string }[];
        company: string;
      }[];
    }
  | { type: 'interactive_reply'; reply_type: string; id: string; title: string; description: string }
  | { type: 'reaction'; external_id: string; emoji: string }
  | {
      type: 'whatsapp_template';
      name: string;
      language: string;
      components: { type: string; parameters: { type: string; text: string }[] }[];
    }
  | {
      type: 'interactive_buttons';
      body: string;
      header: string;
      footer: string;
      buttons: { id: string; title: string }[];
    }
  | {
      type: 'call';
      call_sid: string;
      event: string;
      direction: string;
      from: string;
      to: string;
      caller_name: string;
      provider_status: string;
      duration_seconds: number;
      disposition: Disposition | null;
      recording: CallRecording | null;
      transcript: CallTranscript | null;
    }
  | { type: 'unsupported'; provider_type: string; description: string }
  | { type: 'empty' }
);

export type DeliveryState = 'queued' | 'accepted' | 'sent' | 'delivered' | 'read' | 'failed' | 'unspecified';

export interface Delivery {
  message_id: string;
  conversation_id: string;
  state: DeliveryState;
  external_id: string;
  error: { code: string; title: string; details: string } | null;
  attempts: number;
  updated_at: string | null;
}

export interface Message {
  id: string;
  conversation_id: string;
  channel: Channel;
  external_id: string;
  sender_kind: SenderKind;
  sender_id: string;
  content: MessageContent;
  sent_at: string | null;
  created_at: string | null;
  internal_note: boolean;
  ai_confidence?: number;
  delivery?: Delivery;
  /** Client-side only: a send still on its way (optimistic or queued offline). */
  pending?: 'sending' | 'queued' | 'failed';
}

export interface SendResult {
  message: Message | null;
  conversation: Conversation | null;
  replayed: boolean;
}

export interface ViewCounts {
  all: { total: number; active: number; pending: number; resolved_today: number };
  mine: { total: number; needs_attention: number; waiting_for_customer: number; ready_to_close: number };
  team: { total: number; unassigned: number; in_progress: number; needs_review: number };
  by_channel: Partial<Record<Channel, number>>;
}

export interface StatusChange {
  from: Status;
  to: Status;
  actor: string;
  reason: string;
  changed_at: string | null;
}

export interface AssignmentChange {
  sequence: number;
  assignee_id: string | null;
  team_id: string | null;
  previous_assignee_id: string | null;
  previous_team_id: string | null;
  actor: string;
  note: string;
  reason: string;
  changed_at: string | null;
}

export interface AssignResult {
  conversation_id: string;
  outcome: 'changed' | 'unchanged' | 'waiting' | string;
  assignee_id: string | null;
  team_id: string | null;
  sequence: number;
}

export interface Agent {
  id: string;
  name: string;
  email: string;
  role: Role | string;
  time_zone: string;
  capacity: number;
  load: number;
  availability: Availability;
  team_ids: string[];
}

export interface Team {
  id: string;
  name: string;
  policy: 'round_robin' | 'least_loaded';
  handoff_channels: string[];
  member_ids: string[];
  waiting: number;
}

export interface Summary {
  text: string;
  source: string;
  updated_at: string | null;
}

export interface IntegrationCard {
  source: string;
  title: string;
  fields: { key: string; value: string }[];
  updated_at: string | null;
}

export interface Customer {
  id: string;
  display_name: string;
  phones: string[];
  emails: string[];
  identities: { channel: Channel; address: string; created_at: string | null }[];
  channel_preferences: { preferred: Channel | null; opted_out: Channel[] };
  segment: string;
  attributes: Record<string, string>;
  cards: IntegrationCard[];
  total_conversations: number;
  created_at: string | null;
  updated_at: string | null;
}

export interface CustomerChanges {
  display_name?: string;
  phones?: string[];
  emails?: string[];
  channel_preferences?: { preferred?: Channel | null; opted_out?: Channel[] };
  segment?: string;
  attributes?: Record<string, string>;
}

export interface Template {
  id: string;
  name: string;
  body: string;
  variables: string[];
  created_by: string;
  created_at: string | null;
  updated_at: string | null;
}

export interface Call {
  call_sid: string;
  conversation_id: string;
  from: string;
  to: string;
  started_at: string | null;
  duration_seconds: number;
  disposition: Disposition | null;
  auto_disposition: Disposition | null;
  agent_disposition: Disposition | null;
  disposition_set_by: string | null;
  disposition_set_at: string | null;
  recordings: CallRecording[];
  transcripts: CallTranscript[];
  message_ids: string[];
}

export interface TenantSettings {
  time_zone: string;
  company_name: string;
  ai_confidence_threshold: number;
  handoff_message: string;
}

export interface StatusRules {
  pending_timeout_seconds: number;
  auto_archive_seconds: number;
  reopen_on_customer_message: boolean;
}

export interface PriorityRules {
  urgent_keywords: string[];
  urgent_segments: string[];
  first_response_target_seconds: number;
}

export type BulkAction =
  | { type: 'assign'; assignee_id?: string; team_id?: string; note?: string }
  | { type: 'status'; status: Status }
  | { type: 'priority'; priority: Priority }
  | { type: 'archive' }
  | { type: 'delete' };

export interface BulkItemResult {
  conversation_id: string;
  outcome: 'changed' | 'unchanged' | 'waiting' | 'not_found' | 'failed' | 'not_attempted' | string;
  error: string | null;
}

export interface BulkResult {
  changed: number;
  unchanged: number;
  failed: number;
  /** Conversations an assignment did not reach before its deadline (0 for other actions). */
  not_attempted: number;
  results: BulkItemResult[];
}

export type ExportFormat = 'json' | 'csv' | 'text';

export interface User {
  id: string;
  tenant_id: string;
  email: string;
  name: string;
  role: Role | string;
}

/** Frames of `GET /v1/stream` (services/gateway/src/live/hub.rs). */
export type StreamFrame =
  | { type: 'ready' }
  | { type: 'resync' }
  | { type: 'message.created'; event_id?: string; seq?: number; message: Message | null; conversation: Conversation | null }
  | {
      type:
        | 'conversation.created'
        | 'conversation.updated'
        | 'conversation.status_changed'
        | 'conversation.priority_changed'
        | 'conversation.assigned'
        | 'conversation.needs_human'
        | 'conversation.taken_over'
        | 'conversation.released_to_ai'
        | 'conversation.summary_updated'
        | 'conversation.customer_updated';
      event_id?: string;
      seq?: number;
      conversation: Conversation | null;
      change?: StatusChange;
      previous_assignee_id?: string;
      actor?: string;
      note?: string;
    }
  | { type: 'conversation.deleted'; event_id?: string; seq?: number; conversation_id: string }
  | { type: 'routing.availability_changed'; event_id?: string; seq?: number; agent_id: string; availability: Availability }
  | { type: 'message.delivery_updated'; event_id?: string; seq?: number; delivery: Delivery }
  | { type: 'conversation.typing'; conversation_id: string; agent_id: string; typing: boolean }
  | { type: 'call.disposition_changed'; event_id?: string; seq?: number; call: Call }
  /** Presence (gateway access issue): who has the conversation open. */
  | { type: 'conversation.viewers'; conversation_id: string; viewers: { agent_id: string; since?: string }[] }
  /** One of my notifications (docs/notifications.md "Live"): to me alone, never replayed. */
  | { type: 'notification'; notification: AppNotification };
