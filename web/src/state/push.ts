// Browser push for this browser: ask permission, subscribe with the server's VAPID key, and
// register the subscription with the gateway (or the reverse). The browser's pieces are passed
// in, so the flow is tested without a push service.

import type { PushSubscriptionJson, PushSubscriptionRecord } from '../api/push';

export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

/** What the flow needs of the browser and the server. */
export interface PushDeps {
  /** The service worker's push manager, or null where push is not available. */
  pushManager: () => Promise<PushManagerLike | null>;
  permission: () => NotificationPermission | 'unsupported';
  requestPermission: () => Promise<NotificationPermission>;
  vapidKey: () => Promise<string>;
  register: (subscription: PushSubscriptionJson) => Promise<PushSubscriptionRecord>;
  list: () => Promise<PushSubscriptionRecord[]>;
  remove: (id: string) => Promise<void>;
}

export interface PushManagerLike {
  getSubscription(): Promise<SubscriptionLike | null>;
  subscribe(options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }): Promise<SubscriptionLike>;
}

export interface SubscriptionLike {
  endpoint: string;
  toJSON(): PushSubscriptionJson;
  unsubscribe(): Promise<boolean>;
}

/** A base64url string (the VAPID public key, RFC 8292) as bytes. */
export function base64UrlBytes(text: string): Uint8Array {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Where this browser stands: on only when it is subscribed and the server knows it. */
export async function pushState(deps: PushDeps): Promise<PushState> {
  const manager = await deps.pushManager();
  const permission = deps.permission();
  if (!manager || permission === 'unsupported') return 'unsupported';
  if (permission === 'denied') return 'denied';
  const current = await manager.getSubscription();
  if (!current || permission !== 'granted') return 'off';
  const known = await deps.list();
  return known.some((s) => s.endpoint === current.endpoint) ? 'on' : 'off';
}

/** Turns push on for this browser; the state it ends in (denied when the person said no). */
export async function enablePush(deps: PushDeps): Promise<PushState> {
  const manager = await deps.pushManager();
  if (!manager || deps.permission() === 'unsupported') return 'unsupported';
  const permission = deps.permission() === 'granted' ? 'granted' : await deps.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  const applicationServerKey = base64UrlBytes(await deps.vapidKey());
  // A subscription made for another key (the server's key changed) is replaced.
  let subscription = await manager.getSubscription();
  if (subscription) {
    try {
      subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey });
    } catch {
      await subscription.unsubscribe();
      subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey });
    }
  } else {
    subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey });
  }
  await deps.register(subscription.toJSON());
  return 'on';
}

/** Turns push off for this browser: forgotten by the server, then unsubscribed. */
export async function disablePush(deps: PushDeps): Promise<PushState> {
  const manager = await deps.pushManager();
  if (!manager) return 'unsupported';
  const subscription = await manager.getSubscription();
  if (subscription) {
    for (const known of await deps.list()) {
      if (known.endpoint === subscription.endpoint) await deps.remove(known.id);
    }
    await subscription.unsubscribe();
  }
  return 'off';
}
