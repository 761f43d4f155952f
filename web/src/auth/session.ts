// The session: who is signed in and their access token, kept in memory only. Sign-in and refresh
// follow the gateway access contract (issue 14): `POST /v1/auth/sign-in` {email, password} and
// `POST /v1/auth/refresh` (HttpOnly refresh cookie + `X-CSRF-Token` from the `inbox_csrf` cookie)
// both answer {access_token, expires_in, user}. Until that exists, an operator-minted token in the
// URL fragment (`#access_token=<jwt>`) is accepted and kept in sessionStorage for this tab.

import { errorFromResponse } from '../api/errors';
import type { User } from '../api/types';
import { decodeJwt, isExpired, userFromClaims } from './jwt';

const FRAGMENT_KEY = 'inbox.fragment_token';

export interface Session {
  token: string;
  user: User;
  /** How it was obtained: fragment tokens cannot be refreshed. */
  source: 'sign-in' | 'fragment';
}

interface AuthAnswer {
  access_token: string;
  expires_in: number;
  user: User;
}

type Listener = (session: Session | null) => void;

let current: Session | null = null;
const listeners = new Set<Listener>();

export function getSession(): Session | null {
  return current;
}

export function getToken(): string | null {
  return current?.token ?? null;
}

export function setSession(session: Session | null): void {
  current = session;
  for (const l of listeners) l(session);
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Takes `#access_token=` out of the URL (so it is not bookmarked or shared) into sessionStorage. */
export function takeFragmentToken(loc: Location = window.location, storage: Storage = sessionStorage): string | null {
  const hash = loc.hash.startsWith('#') ? loc.hash.slice(1) : loc.hash;
  const params = new URLSearchParams(hash);
  const token = params.get('access_token');
  if (token) {
    storage.setItem(FRAGMENT_KEY, token);
    params.delete('access_token');
    const rest = params.toString();
    history.replaceState(history.state, '', loc.pathname + loc.search + (rest ? `#${rest}` : ''));
    return token;
  }
  return storage.getItem(FRAGMENT_KEY);
}

export function sessionFromToken(token: string, source: Session['source'], user?: User): Session | null {
  const claims = decodeJwt(token);
  if (!claims || isExpired(claims, Date.now())) return null;
  return { token, source, user: user ?? userFromClaims(claims) };
}

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

async function authCall(path: string, body?: unknown): Promise<AuthAnswer | null> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const csrf = readCookie('inbox_csrf');
  if (csrf) headers['X-CSRF-Token'] = csrf;
  const response = await fetch(path, {
    method: 'POST',
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    if (path.endsWith('sign-in')) throw await errorFromResponse(response);
    return null;
  }
  return (await response.json()) as AuthAnswer;
}

let refreshing: Promise<Session | null> | null = null;

/** One refresh at a time, shared by every caller that met a 401 meanwhile. */
export function refreshSession(): Promise<Session | null> {
  if (current?.source === 'fragment') {
    // A fragment token cannot be refreshed; it is either valid or the agent signs in.
    const again = sessionFromToken(current.token, 'fragment', current.user);
    if (!again) {
      sessionStorage.removeItem(FRAGMENT_KEY);
      setSession(null);
    }
    return Promise.resolve(again);
  }
  refreshing ??= authCall('/v1/auth/refresh')
    .then((answer) => {
      const session = answer ? sessionFromToken(answer.access_token, 'sign-in', answer.user) : null;
      setSession(session);
      return session;
    })
    .catch(() => {
      setSession(null);
      return null;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function signIn(email: string, password: string): Promise<Session> {
  const answer = await authCall('/v1/auth/sign-in', { email, password });
  const session = answer && sessionFromToken(answer.access_token, 'sign-in', answer.user);
  if (!session) throw new Error('The server answered without a usable token.');
  setSession(session);
  return session;
}

export async function signOut(): Promise<void> {
  const was = current;
  sessionStorage.removeItem(FRAGMENT_KEY);
  setSession(null);
  if (was?.source === 'sign-in') {
    try {
      await fetch('/v1/auth/sign-out', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Authorization: `Bearer ${was.token}`, 'X-CSRF-Token': readCookie('inbox_csrf') ?? '' },
      });
    } catch {
      // Signed out here whatever the server says.
    }
  }
}

/** On load: a fragment token, else the token kept for this tab, else one refresh with the cookie. */
export async function restoreSession(): Promise<Session | null> {
  const fromFragment = takeFragmentToken();
  if (fromFragment) {
    const session = sessionFromToken(fromFragment, 'fragment');
    if (session) {
      setSession(session);
      return session;
    }
    sessionStorage.removeItem(FRAGMENT_KEY);
  }
  return refreshSession();
}
