// Web Push through the gateway (docs/notifications.md "Browser push"): the server's VAPID key
// and this person's browser subscriptions.

import { enc, json } from './http';

export interface PushSubscriptionRecord {
  id: string;
  endpoint: string;
  user_agent: string;
  created_at: string | null;
}

/** The browser's `PushSubscription.toJSON()`. */
export interface PushSubscriptionJson {
  endpoint?: string;
  keys?: Record<string, string>;
}

export const getVapidKey = () => json<{ public_key: string }>('GET', '/v1/push/vapid-key');

export const listPushSubscriptions = () =>
  json<{ items: PushSubscriptionRecord[] }>('GET', '/v1/me/push-subscriptions');

export const registerPushSubscription = (subscription: PushSubscriptionJson, userAgent: string) =>
  json<PushSubscriptionRecord>('POST', '/v1/me/push-subscriptions', {
    body: { endpoint: subscription.endpoint, keys: subscription.keys, user_agent: userAgent },
  });

export const deletePushSubscription = (id: string) =>
  json<void>('DELETE', `/v1/me/push-subscriptions/${enc(id)}`);

/** This browser's pieces of the push flow (`state/push.ts`): null manager where there is no
 * service worker (development builds) or no Push API. */
export function browserPushDeps(): import('../state/push').PushDeps {
  const supported = typeof navigator !== 'undefined' && 'serviceWorker' in navigator && typeof window !== 'undefined' && 'PushManager' in window;
  return {
    pushManager: async () => {
      if (!supported) return null;
      const registration = await navigator.serviceWorker.getRegistration();
      return (registration?.pushManager as unknown as import('../state/push').PushManagerLike | undefined) ?? null;
    },
    permission: () => (typeof Notification === 'undefined' ? 'unsupported' : Notification.permission),
    requestPermission: () => Notification.requestPermission(),
    vapidKey: async () => (await getVapidKey()).public_key,
    register: (subscription) => registerPushSubscription(subscription, navigator.userAgent.slice(0, 200)),
    list: async () => (await listPushSubscriptions()).items,
    remove: deletePushSubscription,
  };
}
