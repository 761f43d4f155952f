import { useCallback, useSyncExternalStore } from 'react';
import { formatUrlState, parseUrlState, type InboxUrlState } from '../state/filters';

const listeners = new Set<() => void>();
function notify() {
  for (const l of listeners) l();
}
if (typeof window !== 'undefined') window.addEventListener('popstate', notify);

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

let cachedSearch = '';
let cachedState: InboxUrlState = parseUrlState('');
function snapshot(): InboxUrlState {
  const search = window.location.search;
  if (search !== cachedSearch) {
    cachedSearch = search;
    cachedState = parseUrlState(search);
  }
  return cachedState;
}

export function currentPath(): string {
  return window.location.pathname;
}

/** Moves to another page of the app (`/`, `/settings`), keeping or replacing the query. */
export function navigate(path: string, search: string = window.location.search): void {
  history.pushState(null, '', path + search + window.location.hash);
  notify();
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, currentPath);
}

/** The inbox state held in the URL; `set` pushes a history entry unless `replace`. */
export function useUrlState(): [InboxUrlState, (patch: Partial<InboxUrlState>, replace?: boolean) => void] {
  const state = useSyncExternalStore(subscribe, snapshot);
  const set = useCallback((patch: Partial<InboxUrlState>, replace = false) => {
    const next = { ...snapshot(), ...patch };
    const url = window.location.pathname + formatUrlState(next) + window.location.hash;
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    notify();
  }, []);
  return [state, set];
}
