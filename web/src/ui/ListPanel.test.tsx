import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, createRef } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applyFrame } from '../api/cache';
import type { Conversation } from '../api/types';
import { InboxContext, type InboxContextValue } from '../app/context';
import { parseUrlState } from '../state/filters';
import { Outbox } from '../state/outbox';
import { conv } from '../test/fixtures';
import { ListPanel } from './ListPanel';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await act(async () => {
      await new Promise((r) => setTimeout(r, 10));
    });
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the conversation list', () => {
  let host: HTMLDivElement;
  let rows: Conversation[];

  beforeEach(() => {
    host = document.createElement('div');
    document.body.appendChild(host);
    rows = [
      conv({ contact: { id: 'k1', display_name: 'Ana Souza', segment: '' }, last_message_at: '2026-12-06T11:00:00Z', priority: 'urgent' }),
      conv({ contact: { id: 'k2', display_name: 'Jonas Weber', segment: '' }, last_message_at: '2026-12-06T10:00:00Z', last_message_sender_kind: 'agent', assignee_id: 'me' }),
    ];
    vi.stubGlobal('fetch', async (url: string) => {
      const path = new URL(url, 'http://x').pathname;
      const body = path === '/v1/conversations' ? { items: rows, next_cursor: null } : path === '/v1/settings/priority-rules' ? { urgent_keywords: [], urgent_segments: [], first_response_target_seconds: 0 } : {};
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    });
  });

  afterEach(() => {
    vi.unstubAllGlobals();
    host.remove();
  });

  it('shows each conversation with its marks, and holds still under the agent while one arrives', async () => {
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const ctx: InboxContextValue = {
      me: { id: 'me', tenant_id: 't', email: '', name: 'Me', role: 'admin' },
      agents: [{ id: 'me', name: 'Sarah Lima', email: '', role: 'admin', time_zone: 'UTC', capacity: 5, load: 1, availability: 'online', team_ids: [] }],
      teams: [],
      settings: null,
      outbox: new Outbox(null, async () => {}, () => true),
      connection: 'open',
      setPresence: () => {},
      toast: () => {},
      agentName: (id) => (id === 'me' ? 'Sarah Lima' : ''),
      teamName: () => '',
    };
    const opened: string[] = [];
    const root = createRoot(host);
    const state = parseUrlState('');
    await act(async () => {
      root.render(
        <QueryClientProvider client={qc}>
          <InboxContext.Provider value={ctx}>
            <ListPanel
              state={state}
              setState={() => {}}
              activeId={null}
              setActiveId={() => {}}
              onOpen={(id) => opened.push(id)}
              onSearch={() => {}}
              displayedRef={createRef() as { current: string[] }}
            />
          </InboxContext.Provider>
        </QueryClientProvider>,
      );
    });
    await until(() => host.querySelectorAll('[role="option"]').length === 2, 'two rows');
    const options = () => Array.from(host.querySelectorAll<HTMLElement>('[role="option"]'));
    expect(options()[0].textContent).toContain('Ana Souza');
    expect(options()[0].textContent).toContain('Urgent');
    expect(options()[0].querySelector('[aria-label="Unread"]')).not.toBeNull();
    expect(options()[1].textContent).toContain('Sarah Lima');
    expect(options()[1].querySelector('[aria-label="Unread"]')).toBeNull();

    // The agent is in the list: a new conversation does not push the rows down.
    const list = host.querySelector<HTMLElement>('[data-list]')!;
    await act(async () => list.focus());
    const fresh = conv({ contact: { id: 'k3', display_name: 'New Nina', segment: '' }, last_message_at: '2026-12-06T12:00:00Z' });
    await act(async () => {
      applyFrame(qc, { type: 'conversation.created', conversation: fresh }, { me: 'me', now: Date.now(), startOfToday: 0 });
    });
    await until(() => !!host.querySelector('button')?.textContent?.includes('1 new') || Array.from(host.querySelectorAll('button')).some((b) => b.textContent?.includes('1 new')), '"1 new"');
    expect(options().map((o) => o.textContent?.includes('New Nina'))).toEqual([false, false]);
    const pill = Array.from(host.querySelectorAll('button')).find((b) => b.textContent?.includes('1 new'))!;
    await act(async () => pill.click());
    await until(() => options()[0]?.textContent?.includes('New Nina') ?? false, 'the new row on top');

    await act(async () => options()[1].click());
    expect(opened).toEqual([rows[0].id]);
    await act(async () => root.unmount());
  });
});
