import { describe, expect, it } from 'vitest';
import type { PushSubscriptionRecord } from '../api/push';
import { base64UrlBytes, disablePush, enablePush, pushState, type PushDeps, type SubscriptionLike } from './push';

/** A browser and a server in memory: the subscription made, what the server was told. */
function world(permission: NotificationPermission = 'default', answer: NotificationPermission = 'granted') {
  const server: PushSubscriptionRecord[] = [];
  let current: SubscriptionLike | null = null;
  let perm: NotificationPermission = permission;
  const keys: Uint8Array[] = [];
  const make = (endpoint: string): SubscriptionLike => ({
    endpoint,
    toJSON: () => ({ endpoint, keys: { p256dh: 'BP', auth: 'au' } }),
    unsubscribe: async () => {
      current = null;
      return true;
    },
  });
  const deps: PushDeps = {
    pushManager: async () => ({
      getSubscription: async () => current,
      subscribe: async ({ applicationServerKey }) => {
        keys.push(applicationServerKey);
        current ??= make(`https://push.example/${keys.length}`);
        return current;
      },
    }),
    permission: () => perm,
    requestPermission: async () => (perm = answer),
    vapidKey: async () => 'AQID_-8',
    register: async (s) => {
      const record = { id: `s${server.length + 1}`, endpoint: s.endpoint ?? '', user_agent: '', created_at: null };
      server.push(record);
      return record;
    },
    list: async () => [...server],
    remove: async (id) => void server.splice(server.findIndex((s) => s.id === id), 1),
  };
  return { deps, server, keys, current: () => current };
}

describe('browser push', () => {
  it('decodes the base64url VAPID key', () => {
    expect([...base64UrlBytes('AQID_-8')]).toEqual([1, 2, 3, 255, 239]);
  });

  it('asks permission, subscribes with the server key and registers the subscription', async () => {
    const w = world();
    expect(await pushState(w.deps)).toBe('off');
    expect(await enablePush(w.deps)).toBe('on');
    expect([...w.keys[0]]).toEqual([1, 2, 3, 255, 239]);
    expect(w.server.map((s) => s.endpoint)).toEqual(['https://push.example/1']);
    expect(await pushState(w.deps)).toBe('on');
  });

  it('stops when the person says no, and says so', async () => {
    const w = world('default', 'denied');
    expect(await enablePush(w.deps)).toBe('denied');
    expect(w.server).toEqual([]);
    expect(await pushState(w.deps)).toBe('denied');
  });

  it('is off while the server does not know this browser, and turning off forgets it there first', async () => {
    const w = world('granted');
    await enablePush(w.deps);
    w.server.length = 0;
    expect(await pushState(w.deps)).toBe('off');
    await enablePush(w.deps);
    expect(await disablePush(w.deps)).toBe('off');
    expect(w.server).toEqual([]);
    expect(w.current()).toBeNull();
  });

  it('says unsupported without a push manager', async () => {
    const w = world();
    const deps = { ...w.deps, pushManager: async () => null };
    expect(await pushState(deps)).toBe('unsupported');
    expect(await enablePush(deps)).toBe('unsupported');
  });
});
