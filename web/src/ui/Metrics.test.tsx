import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Figures } from '../api/metrics';
import { InboxContext, type InboxContextValue } from '../app/context';
import { Outbox } from '../state/outbox';
import Metrics from './Metrics';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await act(async () => {
      await new Promise((r) => setTimeout(r, 10));
    });
  }
  throw new Error(`timed out waiting for ${what}: ${document.body.textContent?.slice(0, 300)}`);
}

const none = { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
function figures(over: Partial<Figures> = {}): Figures {
  return {
    first_response_seconds: none,
    next_response_seconds: none,
    resolution_seconds: none,
    active_time_seconds: none,
    messages_per_resolution: none,
    new_conversations: 0,
    resolutions: 0,
    reopened: 0,
    customer_messages: 0,
    agent_messages: 0,
    ai_messages: 0,
    conversations_handled: 0,
    conversations_resolved: 0,
    resolution_rate: 0,
    csat: { surveys_sent: 0, responses: 0, by_score: [], average: 0, satisfied_share: 0 },
    sla: { warnings: 0, breaches: 0, met: 0 },
    ai: { conversations_answered: 0, resolutions_without_person: 0, share_resolved_without_person: 0, handoffs: 0, handoff_rate: 0, handoff_reasons: {} },
    ...over,
  };
}

const ctx: InboxContextValue = {
  me: { id: 'sup', tenant_id: 't', email: '', name: 'Sam', role: 'supervisor' },
  agents: [{ id: 'a1', name: 'Sarah Lima', email: '', role: 'agent', time_zone: 'UTC', capacity: 5, load: 1, availability: 'online', team_ids: [] }],
  teams: [],
  settings: null,
  outbox: new Outbox(null, async () => {}, () => true),
  connection: 'open',
  setPresence: () => {},
  toast: () => {},
  agentName: () => '',
  teamName: () => '',
};

describe('the metrics dashboard', () => {
  let host: HTMLDivElement;
  let root: Root;
  let answer: (path: string, query: URLSearchParams) => Response;

  beforeEach(() => {
    host = document.createElement('div');
    document.body.appendChild(host);
    vi.stubGlobal('fetch', async (url: string) => {
      const u = new URL(url, 'http://x');
      return answer(u.pathname, u.searchParams);
    });
  });

  afterEach(() => {
    act(() => root.unmount());
    vi.unstubAllGlobals();
    host.remove();
  });

  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const live = { at: null, time_zone: 'UTC', group_by: 'tenant', groups: [{ group_id: null, active: 4, pending: 1, backlog: 3, backlog_unassigned: 2, new_today: 6, resolved_today: 2 }] };

  function render() {
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    root = createRoot(host);
    act(() =>
      root.render(
        <QueryClientProvider client={qc}>
          <InboxContext.Provider value={ctx}>
            <Metrics onClose={() => {}} />
          </InboxContext.Provider>
        </QueryClientProvider>,
      ),
    );
  }

  it('shows the figures, the live volume and a row per agent', async () => {
    answer = (path, q) => {
      if (path === '/v1/metrics/live') return json(live);
      const grouped = q.get('group_by') === 'agent';
      const total = figures({ new_conversations: 6, resolutions: 2, conversations_handled: 4, conversations_resolved: 2, resolution_rate: 0.5, first_response_seconds: { ...none, count: 3, mean: 252, p90: 400 } });
      return json({ time_zone: 'UTC', bucket: 'hour', series: [{ group_by: grouped ? 'agent' : 'tenant', group_id: grouped ? 'a1' : null, total, points: [] }] });
    };
    render();
    await until(() => !!host.querySelector('[data-report]') && !!host.querySelector('table'), 'the report');
    const value = (label: string) => host.querySelector(`[data-figure="${label}"] [data-value]`)?.textContent;
    expect(value('Average first response')).toBe('4m 12s');
    expect(value('New conversations')).toBe('6');
    expect(value('Resolution rate')).toBe('50%');
    expect(value('Backlog')).toBe('3');
    expect(host.querySelector('tbody th')?.textContent).toBe('Sarah Lima');
    const csv = host.querySelector<HTMLAnchorElement>('a[download]');
    expect(csv?.getAttribute('href')).toMatch(/^\/v1\/metrics\/report\.csv\?from=.*&group_by=agent/);
  });

  it('says so when nothing happened in the period', async () => {
    answer = (path) => (path === '/v1/metrics/live' ? json(live) : json({ time_zone: 'UTC', bucket: 'hour', series: [{ group_by: 'tenant', group_id: null, total: figures(), points: [] }] }));
    render();
    await until(() => host.textContent?.includes('No activity in this period') ?? false, 'the empty state');
    expect(host.querySelector('[data-report]')).toBeNull();
  });

  it('offers a retry when the report fails, and the live figures fail on their own', async () => {
    answer = () => json({ error: { code: 'unavailable', message: 'metrics is down' } }, 503);
    render();
    await until(() => (host.textContent?.includes('The report could not be loaded') ?? false) && (host.textContent?.includes('Live figures unavailable') ?? false), 'the error states');
    expect([...host.querySelectorAll('button')].filter((b) => b.textContent === 'Retry')).toHaveLength(2);
  });
});
