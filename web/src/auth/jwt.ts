import type { User } from '../api/types';

export interface Claims {
  sub: string;
  tid: string;
  role: string;
  exp: number;
  iat?: number;
}

/** The payload of a JWT, unverified (the gateway verifies; the screen only reads who it is). */
export function decodeJwt(token: string): Claims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const json = decodeURIComponent(
      Array.from(atob(base64), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    );
    const claims = JSON.parse(json) as Partial<Claims>;
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return null;
    return { sub: claims.sub, tid: String(claims.tid ?? ''), role: String(claims.role ?? ''), exp: claims.exp, iat: claims.iat };
  } catch {
    return null;
  }
}

export function isExpired(claims: Claims, nowMs: number, skewSeconds = 30): boolean {
  return claims.exp * 1000 <= nowMs + skewSeconds * 1000;
}

export function userFromClaims(claims: Claims): User {
  return { id: claims.sub, tenant_id: claims.tid, role: claims.role, email: '', name: '' };
}
