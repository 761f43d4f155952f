import type { ListParams } from './client';

export const keys = {
  lists: ['conversations'] as const,
  list: (params: ListParams) => ['conversations', params] as const,
  conversation: (id: string) => ['conversation', id] as const,
  messages: (id: string) => ['messages', id] as const,
  views: (team?: string) => ['views', team ?? ''] as const,
  agents: ['agents'] as const,
  teams: ['teams'] as const,
  typing: (id: string) => ['typing', id] as const,
  viewers: (id: string) => ['viewers', id] as const,
  calls: (id: string) => ['calls', id] as const,
  customer: (id: string) => ['customer', id] as const,
  related: (id: string) => ['related', id] as const,
  summary: (id: string) => ['summary', id] as const,
  settings: ['settings', 'tenant'] as const,
  templates: (q: string) => ['templates', q] as const,
};
