import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeJwt, isExpired } from './jwt';
import { getSession, readCookie, refreshSession, restoreSession, sessionFromToken, setSession, takeFragmentToken } from './session';

function jwt(claims: object): string {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.signature`;
}

const future = Math.floor(Date.now() / 1000) + 3600;
const valid = jwt({ sub: 'u1', tid: 't1', role: 'agent', iat: 1, exp: future });

afterEach(() => {
  setSession(null);
  sessionStorage.clear();
  vi.unstubAllGlobals();
  history.replaceState(null, '', '/');
});

describe('the session', () => {
  it('reads who the token stands for, and knows an expired one', () => {
    expect(decodeJwt(valid)).toEqual({ sub: 'u1', tid: 't1', role: 'agent', exp: future, iat: 1 });
    expect(decodeJwt('not.a.jwt')).toBeNull();
    expect(isExpired({ sub: 'u', tid: '', role: '', exp: 100 }, 200_000)).toBe(true);
    expect(sessionFromToken(jwt({ sub: 'u1', exp: 5 }), 'fragment')).toBeNull();
    expect(sessionFromToken(valid, 'fragment')?.user).toMatchObject({ id: 'u1', tenant_id: 't1', role: 'agent' });
  });

  it('takes a fragment token out of the URL and keeps it for the tab', () => {
    history.replaceState(null, '', `/?view=mine#access_token=${valid}&x=1`);
    expect(takeFragmentToken()).toBe(valid);
    expect(window.location.hash).toBe('#x=1');
    expect(window.location.search).toBe('?view=mine');
    history.replaceState(null, '', '/');
    expect(takeFragmentToken()).toBe(valid);
  });

  it('restores from the refresh cookie with the CSRF header, or has no session', async () => {
    const calls: { url: string; headers: Record<string, string> }[] = [];
    document.cookie = 'inbox_csrf=abc123';
    expect(readCookie('inbox_csrf')).toBe('abc123');
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, headers: init.headers as Record<string, string> });
      return new Response(JSON.stringify({ access_token: valid, expires_in: 900, user: { id: 'u1', tenant_id: 't1', email: 'a@b.c', name: 'Ana', role: 'agent' } }), { status: 200 });
    });
    const s = await restoreSession();
    expect(s?.source).toBe('sign-in');
    expect(s?.user.name).toBe('Ana');
    expect(calls[0]).toMatchObject({ url: '/v1/auth/refresh', headers: { 'X-CSRF-Token': 'abc123' } });

    vi.stubGlobal('fetch', async () => new Response('{}', { status: 401 }));
    expect(await refreshSession()).toBeNull();
    expect(getSession()).toBeNull();
  });
});
