// Typed functions for every REST call the screen makes (README "REST API", docs/*.md).

import { json, raw, enc, type Query } from './http';
import { ApiError } from './errors';
import type {
  Agent,
  AssignmentChange,
  AssignResult,
  Availability,
  BulkAction,
  BulkResult,
  Call,
  Conversation,
  Customer,
  CustomerChanges,
  Disposition,
  ExportFormat,
  IntegrationCard,
  Message,
  Page,
  Priority,
  PriorityRules,
  SendResult,
  Status,
  StatusChange,
  StatusRules,
  Summary,
  Team,
  Template,
  TenantSettings,
  User,
  ViewCounts,
} from './types';

/** The list's query parameters (docs/conversations.md "List filters and sorts"). */
export interface ListParams {
  view?: string;
  status?: string;
  channel?: string;
  priority?: string;
  assigned?: string;
  team?: string;
  needs_human?: boolean;
  ids?: string;
  time?: string;
  time_field?: string;
  from?: string;
  to?: string;
  sort?: string;
}

export const listConversations = (params: ListParams, cursor?: string | null, limit = 100, signal?: AbortSignal) =>
  json<Page<Conversation>>('GET', '/v1/conversations', {
    query: { ...(params as Query), cursor: cursor ?? undefined, limit },
    signal,
  });

export const getViews = (team?: string) => json<ViewCounts>('GET', '/v1/views', { query: { team } });

export const getConversation = (id: string) => json<Conversation>('GET', `/v1/conversations/${enc(id)}`);

export const listMessages = (id: string, cursor?: string | null, limit = 200) =>
  json<Page<Message>>('GET', `/v1/conversations/${enc(id)}/messages`, { query: { cursor: cursor ?? undefined, limit } });

export interface NewMessage {
  text?: string;
  internal_note?: boolean;
  attachment?: { kind: string; url?: string; media_id?: string; mime_type: string; filename?: string };
  template?: { name: string; language: string; components?: unknown[] };
  interactive?: { body: string; header?: string; footer?: string; buttons: { id: string; title: string }[] };
}

/** A reply or internal note, stored once per idempotency key (a repeat answers `replayed`). */
export const sendMessage = (id: string, message: NewMessage, idempotencyKey: string) =>
  json<SendResult>('POST', `/v1/conversations/${enc(id)}/messages`, {
    body: { ...message, idempotency_key: idempotencyKey },
  });

export const sendTemplateMessage = (
  id: string,
  templateId: string,
  variables: Record<string, string>,
  idempotencyKey: string,
) =>
  json<SendResult>('POST', `/v1/conversations/${enc(id)}/template-messages`, {
    body: { template_id: templateId, variables, idempotency_key: idempotencyKey },
  });

/**
 * A single-use ticket (about 30 s) for the one place the browser cannot send the bearer header:
 * the live stream's WebSocket URL. Asked for before each (re)connect.
 */
export const createTicket = () => json<{ ticket: string; expires_in: number }>('POST', '/v1/auth/ticket');

/** Where the media of a message (WhatsApp media, call recordings) is streamed from. */
export const mediaPath = (conversationId: string, mediaId: string) =>
  `/v1/conversations/${enc(conversationId)}/media/${enc(mediaId)}`;

/** Media as a blob URL (the endpoint needs the bearer token, so `<img src>` cannot load it directly). */
export async function fetchMediaUrl(conversationId: string, mediaId: string): Promise<string> {
  const response = await raw('GET', mediaPath(conversationId, mediaId), { headers: { Accept: '*/*' } });
  return URL.createObjectURL(await response.blob());
}

export const setStatus = (id: string, status: Status, reason?: string) =>
  json<Conversation>('POST', `/v1/conversations/${enc(id)}/status`, { body: { status, reason: reason ?? '' } });

export const statusHistory = (id: string) =>
  json<{ items: StatusChange[] }>('GET', `/v1/conversations/${enc(id)}/status-history`);

export const setPriority = (id: string, priority: Priority, reason?: string) =>
  json<Conversation>('POST', `/v1/conversations/${enc(id)}/priority`, { body: { priority, reason: reason ?? '' } });

export interface AssignmentTarget {
  assignee_id?: string | null;
  team_id?: string | null;
  note?: string;
}

export const setAssignment = (id: string, target: AssignmentTarget) =>
  json<AssignResult>('PUT', `/v1/conversations/${enc(id)}/assignment`, {
    body: {
      ...(target.assignee_id ? { assignee_id: target.assignee_id } : {}),
      ...(target.team_id ? { team_id: target.team_id } : {}),
      note: target.note ?? '',
    },
  });

export const assignmentHistory = (id: string) =>
  json<{ items: AssignmentChange[] }>('GET', `/v1/conversations/${enc(id)}/assignment-history`);

export const takeOver = (id: string) => json<Conversation>('POST', `/v1/conversations/${enc(id)}/take-over`);
export const releaseToAi = (id: string) => json<Conversation>('POST', `/v1/conversations/${enc(id)}/release`);

export const getSummary = (id: string) => json<Summary>('GET', `/v1/conversations/${enc(id)}/summary`);
export const setSummary = (id: string, summary: string) =>
  json<Conversation>('PUT', `/v1/conversations/${enc(id)}/summary`, { body: { summary } });

export const sendTyping = (id: string, typing: boolean) =>
  json<unknown>('POST', `/v1/conversations/${enc(id)}/typing`, { body: { typing } });

export const listCalls = (id: string) => json<{ items: Call[] }>('GET', `/v1/conversations/${enc(id)}/calls`);
export const setCallDisposition = (id: string, callSid: string, disposition: Disposition | null) =>
  json<Call>('PUT', `/v1/conversations/${enc(id)}/calls/${enc(callSid)}/disposition`, { body: { disposition } });
export const startCall = (id: string, agentNumber?: string) =>
  json<{ call_sid: string; status: string }>('POST', `/v1/conversations/${enc(id)}/calls`, {
    body: agentNumber ? { agent_number: agentNumber } : {},
  });

export interface DownloadedFile {
  blob: Blob;
  filename: string;
}

function filenameOf(response: Response, fallback: string): string {
  const disposition = response.headers.get('Content-Disposition') ?? '';
  return /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallback;
}

export async function exportConversation(id: string, format: ExportFormat): Promise<DownloadedFile> {
  const response = await raw('GET', `/v1/conversations/${enc(id)}/export`, {
    query: { format },
    headers: { Accept: '*/*' },
  });
  const ext = format === 'text' ? 'txt' : format;
  return { blob: await response.blob(), filename: filenameOf(response, `conversation-${id}.${ext}`) };
}

/** Export of many: by ids, or every conversation a filter selects (at most 1,000). */
export async function exportConversations(
  selection: { ids: string[] } | { filter: ListParams },
  format: ExportFormat,
): Promise<DownloadedFile> {
  const response = await raw('POST', '/v1/conversations/export', {
    body: { ...selection, format },
    headers: { Accept: '*/*' },
  });
  const ext = format === 'text' ? 'txt' : format;
  return { blob: await response.blob(), filename: filenameOf(response, `conversations.${ext}`) };
}

/** Bulk action by ids or by filter (the list's parameters, without `sort`). */
export const bulkAction = (
  selection: { ids: string[] } | { filter: Omit<ListParams, 'sort'> },
  action: BulkAction,
  reason?: string,
) => json<BulkResult>('POST', '/v1/conversations/bulk', { body: { ...selection, action, reason: reason ?? '' } });

export const getCustomer = (id: string) => json<Customer>('GET', `/v1/customers/${enc(id)}`);
export const updateCustomer = (id: string, changes: CustomerChanges) =>
  json<{ customer: Customer | null; merged_customer_ids: string[] }>('PATCH', `/v1/customers/${enc(id)}`, {
    body: changes,
  });
export const upsertCard = (id: string, card: Omit<IntegrationCard, 'updated_at'>) =>
  json<IntegrationCard>('PUT', `/v1/customers/${enc(id)}/cards`, { body: card });
export const deleteCard = (id: string, source: string, title: string) =>
  json<{ deleted: boolean }>('DELETE', `/v1/customers/${enc(id)}/cards`, { query: { source, title } });
export const customerConversations = (id: string, cursor?: string | null) =>
  json<Page<Conversation>>('GET', `/v1/customers/${enc(id)}/conversations`, { query: { cursor: cursor ?? undefined } });
export const relatedConversations = (id: string) =>
  json<{ items: Conversation[] }>('GET', `/v1/conversations/${enc(id)}/related`);

export const listTemplates = (q?: string, limit = 20) =>
  json<{ items: Template[] }>('GET', '/v1/templates', { query: { q, limit } });
export const renderTemplate = (id: string, conversationId: string, variables: Record<string, string>) =>
  json<{ text: string }>('POST', `/v1/templates/${enc(id)}/render`, {
    body: { conversation_id: conversationId, variables },
  });
export const createTemplate = (name: string, body: string) =>
  json<Template>('POST', '/v1/templates', { body: { name, body } });
export const updateTemplate = (id: string, change: { name?: string; body?: string }) =>
  json<Template>('PATCH', `/v1/templates/${enc(id)}`, { body: change });
export const deleteTemplate = (id: string) => json<void>('DELETE', `/v1/templates/${enc(id)}`);

export const listAgents = () => json<{ items: Agent[] }>('GET', '/v1/agents');
export const listTeams = () => json<{ items: Team[] }>('GET', '/v1/teams');
export const setMyAvailability = (availability: Availability, ttlSeconds?: number) =>
  json<Agent>('PUT', '/v1/me/availability', { body: { availability, ttl_seconds: ttlSeconds } });

export const getTenantSettings = () => json<TenantSettings>('GET', '/v1/settings/tenant');
export const setTenantSettings = (s: TenantSettings) => json<TenantSettings>('PUT', '/v1/settings/tenant', { body: s });
export const getStatusRules = () => json<StatusRules>('GET', '/v1/settings/status-rules');
export const setStatusRules = (r: StatusRules) => json<StatusRules>('PUT', '/v1/settings/status-rules', { body: r });
export const getPriorityRules = () => json<PriorityRules>('GET', '/v1/settings/priority-rules');
export const setPriorityRules = (r: PriorityRules) =>
  json<PriorityRules>('PUT', '/v1/settings/priority-rules', { body: r });

/** `GET /v1/me` (gateway access issue); `null` while the gateway does not have it. */
export async function getMe(): Promise<User | null> {
  try {
    return await json<User>('GET', '/v1/me');
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}

/** Where a search hit matched: byte ranges into the UTF-8 `fragment` (state/search.ts `piecesOf`). */
export interface SearchHighlight {
  field: string;
  fragment: string;
  ranges: { start: number; end: number }[];
}

export interface SearchHit {
  conversation: Conversation;
  /** The best message's fragment first, then the conversation's own (the customer's name). */
  highlights: SearchHighlight[];
  /** The best matching message; absent when only the conversation itself matched. */
  message?: {
    id: string;
    sender_kind: 'customer' | 'agent' | 'ai' | 'system';
    sent_at: string | null;
    internal_note: boolean;
    highlight: SearchHighlight | null;
  };
  score: number;
}

export interface SearchFacets {
  total: number;
  by_status: Record<string, number>;
  by_channel: Record<string, number>;
}

export type SearchOrder = 'relevance' | 'recent';

export interface SearchPage {
  items: SearchHit[];
  next_cursor: string | null;
  facets?: SearchFacets;
  understood_query: string;
}

export type SearchAnswer = ({ available: true } & SearchPage) | { available: false };

/**
 * `GET /v1/search` (docs/search.md "Through the gateway"): conversations matching a query of
 * the search language, a page at a time. Facets are asked on the first page only (they cost a
 * pass over every match). A 404 or 405 means this server has no search: the answer says so.
 * A query search cannot read is an `ApiError` 400 `invalid_argument` whose message starts
 * `query column N:` (state/search.ts `queryProblem`); search down is a 503.
 */
export async function searchConversations(
  q: string,
  { order = 'relevance', cursor = null, limit = 20, signal }: { order?: SearchOrder; cursor?: string | null; limit?: number; signal?: AbortSignal } = {},
): Promise<SearchAnswer> {
  try {
    const page = await json<SearchPage>('GET', '/v1/search', {
      query: { q, order, limit, cursor: cursor ?? undefined, facets: cursor ? undefined : true },
      signal,
    });
    return {
      available: true,
      items: page.items ?? [],
      next_cursor: page.next_cursor ?? null,
      facets: page.facets,
      understood_query: page.understood_query ?? q,
    };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return { available: false };
    throw e;
  }
}
