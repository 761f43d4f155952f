import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppNotification } from '../api/notifications';
import { Bell, NotificationPanel, notificationKeys } from './NotificationCentre';

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

const n = (id: string, over: Partial<AppNotification> = {}): AppNotification => ({
  id,
  type: 'assigned',
  conversation_id: `c-${id}`,
  title: 'Assigned to you',
  body: 'Ana: hello',
  level: 'all',
  sound: true,
  browser: true,
  sla_target: null,
  due_at: null,
  created_at: new Date().toISOString(),
  read_at: null,
  ...over,
});

describe('the notification centre', () => {
  let host: HTMLDivElement;
  let root: Root;
  let calls: { method: string; path: string; body: unknown }[];
  let qc: QueryClient;

  beforeEach(() => {
    host = document.createElement('div');
    document.body.appendChild(host);
    calls = [];
    // A server that remembers what was marked read: a refetch after a mark sees it.
    const read = new Set<string>(['n1']);
    const items = () =>
      [n('n2'), n('n1', { type: 'sla_breached', title: 'SLA breached: first response' })].map((x) =>
        read.has(x.id) ? { ...x, read_at: '2031-01-01T00:00:00Z' } : x,
      );
    const unread = () => items().filter((x) => !x.read_at).length;
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      const path = new URL(url, 'http://x').pathname;
      const sent = init.body ? (JSON.parse(String(init.body)) as { ids?: string[] }) : null;
      calls.push({ method: init.method ?? 'GET', path, body: sent });
      if (path === '/v1/notifications/read') for (const id of sent?.ids ?? []) read.add(id);
      if (path === '/v1/notifications/read-all') for (const x of items()) read.add(x.id);
      const body =
        path === '/v1/notifications'
          ? { items: items(), next_cursor: null, unread_count: unread() }
          : path === '/v1/notifications/unread-count'
            ? { unread_count: unread() }
            : { marked: 1, unread_count: unread() };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    });
    qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  });

  afterEach(() => {
    act(() => root.unmount());
    vi.unstubAllGlobals();
    host.remove();
  });

  function render(onOpen: (id: string) => void, onClose: () => void) {
    root = createRoot(host);
    act(() =>
      root.render(
        <QueryClientProvider client={qc}>
          <Bell open onToggle={() => {}} />
          <NotificationPanel onClose={onClose} onOpenConversation={onOpen} />
        </QueryClientProvider>,
      ),
    );
  }

  it('lists mine with the unread ones marked, and opening one marks it read', async () => {
    const opened: string[] = [];
    let closed = 0;
    render((id) => opened.push(id), () => closed++);
    await until(() => host.querySelectorAll('[data-notification-id]').length === 2, 'the list');
    expect(host.querySelector('[data-notification-bell]')?.textContent).toBe('Notifications1 unread');
    expect([...host.querySelectorAll('[data-notification-id]')].map((e) => e.getAttribute('data-unread'))).toEqual(['yes', 'no']);
    await act(async () => host.querySelector<HTMLButtonElement>('[data-notification-id="n2"]')!.click());
    expect(opened).toEqual(['c-n2']);
    expect(closed).toBe(1);
    await until(
      () => calls.some((c) => c.path === '/v1/notifications/read') && host.querySelector('[data-unread-count]') === null,
      'the mark shown',
    );
    expect(calls.find((c) => c.path === '/v1/notifications/read')?.body).toEqual({ ids: ['n2'] });
    expect(qc.getQueryData(notificationKeys.unread)).toBe(0);
    expect(host.querySelector('[data-unread-count]')).toBeNull();
  });

  it('marks all read at once', async () => {
    render(() => {}, () => {});
    await until(() => host.querySelectorAll('[data-notification-id]').length === 2, 'the list');
    const markAll = [...host.querySelectorAll('button')].find((b) => b.textContent === 'Mark all read')!;
    await act(async () => markAll.click());
    await until(
      () =>
        calls.some((c) => c.method === 'POST' && c.path === '/v1/notifications/read-all') &&
        host.querySelectorAll('[data-unread="yes"]').length === 0,
      'read-all shown',
    );
    expect(host.querySelectorAll('[data-unread="yes"]')).toHaveLength(0);
    expect(host.querySelector('[data-unread-count]')).toBeNull();
  });
});
