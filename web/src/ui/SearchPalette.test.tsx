import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SearchHit } from '../api/client';
import { conv } from '../test/fixtures';
import { SearchPalette } from './SearchPalette';

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

const bytes = (s: string) => new TextEncoder().encode(s).length;

/** A hit whose message fragment marks `word` by its UTF-8 byte range, as the server does. */
function hit(id: string, name: string, fragment: string, word: string): SearchHit {
  const start = bytes(fragment.slice(0, fragment.indexOf(word)));
  const highlight = { field: 'body', fragment, ranges: [{ start, end: start + bytes(word) }] };
  return {
    conversation: conv({ id, contact: { id: `k-${id}`, display_name: name, segment: '' } }),
    highlights: [highlight],
    message: { id: `m-${id}`, sender_kind: 'customer', sent_at: null, internal_note: false, highlight },
    score: 1,
  };
}

type Answer = { status: number; body: unknown; delayMs?: number };

describe('the search palette', () => {
  let host: HTMLDivElement;
  let root: Root;
  let calls: { params: URLSearchParams; signal: AbortSignal }[];
  let answer: (params: URLSearchParams) => Answer;

  beforeEach(() => {
    host = document.createElement('div');
    document.body.appendChild(host);
    calls = [];
    answer = () => ({ status: 200, body: { items: [], next_cursor: null, understood_query: '' } });
    vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
      const params = new URL(url, 'http://x').searchParams;
      const signal = init.signal!;
      calls.push({ params, signal });
      const a = answer(params);
      return new Promise<Response>((resolve, reject) => {
        const t = setTimeout(
          () => resolve(new Response(JSON.stringify(a.body), { status: a.status, headers: { 'Content-Type': 'application/json' } })),
          a.delayMs ?? 0,
        );
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    });
  });

  afterEach(() => {
    act(() => root.unmount());
    vi.unstubAllGlobals();
    host.remove();
  });

  function render(onOpen: (id: string) => void = () => {}, onClose: () => void = () => {}) {
    root = createRoot(host);
    act(() => root.render(<SearchPalette onClose={onClose} onOpen={(c) => onOpen(c.id)} />));
  }

  const input = () => host.querySelector<HTMLInputElement>('input[aria-label="Search conversations"]')!;

  function type(value: string) {
    act(() => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input(), value);
      input().dispatchEvent(new Event('input', { bubbles: true }));
    });
  }

  function press(key: string) {
    act(() => {
      input().dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true }));
    });
  }

  const button = (text: string) => [...host.querySelectorAll('button')].find((b) => b.textContent === text)!;
  const options = () => [...host.querySelectorAll('[role="option"]')];

  it('asks once typing pauses, marks the server ranges, and opens a result by keyboard', async () => {
    answer = () => ({
      status: 200,
      body: {
        items: [hit('c1', 'Zoë', '😀 my crème brûlée order', 'brûlée'), hit('c2', 'Ana', 'a refund please', 'refund')],
        next_cursor: null,
        understood_query: 'bru*',
      },
    });
    const opened: string[] = [];
    let closed = 0;
    render((id) => opened.push(id), () => closed++);
    type('b');
    type('br');
    type('bru');
    await until(() => options().length === 2, 'the results');
    expect(calls.map((c) => c.params.get('q'))).toEqual(['bru']);
    expect(calls[0].params.get('order')).toBe('relevance');
    expect([...host.querySelectorAll('mark')].map((m) => m.textContent)).toEqual(['brûlée', 'refund']);
    expect(host.querySelector('[data-search-field="body"]')?.textContent).toContain('Message · customer');
    press('ArrowDown');
    expect(options().map((o) => o.getAttribute('aria-selected'))).toEqual(['false', 'true']);
    press('ArrowDown');
    press('ArrowUp');
    press('ArrowDown');
    press('Enter');
    expect(opened).toEqual(['c2']);
    press('Escape');
    expect(closed).toBe(1);
  });

  it('drops a stale answer: the earlier request is aborted when the query changes', async () => {
    answer = (p) =>
      p.get('q') === 'slow'
        ? { status: 200, delayMs: 400, body: { items: [hit('old', 'Old', 'slow one', 'slow')], next_cursor: null, understood_query: '' } }
        : { status: 200, body: { items: [hit('new', 'New', 'fast one', 'fast')], next_cursor: null, understood_query: '' } };
    render();
    type('slow');
    await until(() => calls.length === 1, 'the first request');
    type('fast');
    await until(() => options().length === 1, 'the newer results');
    expect(calls[0].signal.aborted).toBe(true);
    await act(async () => new Promise((r) => setTimeout(r, 450)));
    expect(options().map((o) => o.id)).toEqual(['search-new']);
  });

  it('loads more with the cursor and re-asks in recent order', async () => {
    answer = (p) =>
      p.get('cursor') === 'page2'
        ? { status: 200, body: { items: [hit('c3', 'Cy', 'third refund', 'refund')], next_cursor: null, understood_query: 'refund' } }
        : {
            status: 200,
            body: {
              items: [hit('c1', 'Al', 'refund one', 'refund'), hit('c2', 'Bo', 'refund two', 'refund')],
              next_cursor: 'page2',
              facets: { total: 3, by_status: {}, by_channel: {} },
              understood_query: 'refund',
            },
          };
    render();
    type('refund');
    await until(() => options().length === 2, 'the first page');
    expect(host.textContent).toContain('3 conversations');
    expect(calls[0].params.get('facets')).toBe('true');
    await act(async () => button('Load more').click());
    await until(() => options().length === 3, 'the second page');
    expect(calls[1].params.get('cursor')).toBe('page2');
    expect(calls[1].params.get('facets')).toBeNull();
    expect(button('Load more')).toBeUndefined();
    await act(async () => button('Recent').click());
    await until(() => calls.length === 3 && options().length === 2, 'recent order');
    expect(calls[2].params.get('order')).toBe('recent');
    expect(button('Recent').getAttribute('aria-pressed')).toBe('true');
  });

  it('shows a bad query at its column, and search down with a retry', async () => {
    answer = () => ({
      status: 400,
      body: { error: { code: 'invalid_argument', message: 'query column 8: unknown operator phon:', details: { column: 8 } } },
    });
    render();
    type('refund phon:123');
    await until(() => host.querySelector('[role="alert"]') !== null, 'the problem');
    expect(host.querySelector('[role="alert"]')?.textContent).toContain('Column 8: unknown operator phon:');
    expect(host.querySelector('[data-search-error-column="8"]')?.textContent).toBe('refund phon:123');
    expect(host.querySelector('[data-search-error-mark]')?.textContent).toBe('p');
    expect(input().getAttribute('aria-invalid')).toBe('true');

    answer = () => ({ status: 503, body: { error: { code: 'unavailable', message: 'search is unavailable' } } });
    type('refund');
    await until(() => host.textContent!.includes('Search is unavailable right now'), 'unavailable');
    answer = () => ({ status: 200, body: { items: [hit('c1', 'Al', 'refund one', 'refund')], next_cursor: null, understood_query: '' } });
    await act(async () => button('Try again').click());
    await until(() => options().length === 1, 'results after the retry');
  });

  it('shows query examples when nothing matches, and an example fills the query', async () => {
    render();
    type('zzzz');
    await until(() => host.querySelector('[data-search-empty]') !== null, 'the empty state');
    expect(host.querySelector('[data-search-empty]')?.textContent).toContain('name:ana');
    await act(async () => host.querySelector<HTMLButtonElement>('[data-search-empty] button')!.click());
    expect(input().value).toBe('refund -paypal');
  });
});
