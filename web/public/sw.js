// The inbox's service worker: the app shell works offline (the composer queues what is sent);
// the API and the live stream are never cached.
const SHELL = 'inbox-shell-v1';

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(['/', '/manifest.webmanifest', '/icon.svg'])));
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((names) => Promise.all(names.filter((n) => n !== SHELL).map((n) => caches.delete(n)))).then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  if (url.pathname.startsWith('/assets/')) {
    // Content-hashed: immutable.
    event.respondWith(
      caches.match(event.request).then(
        (hit) =>
          hit ??
          fetch(event.request).then((response) => {
            const copy = response.clone();
            if (response.ok) caches.open(SHELL).then((cache) => cache.put(event.request, copy));
            return response;
          }),
      ),
    );
    return;
  }
  if (event.request.mode === 'navigate') {
    // Network first, so a deploy is picked up; the cached shell when offline.
    event.respondWith(
      fetch(event.request)
        .then((response) => {
          const copy = response.clone();
          if (response.ok) caches.open(SHELL).then((cache) => cache.put('/', copy));
          return response;
        })
        .catch(() => caches.match('/')),
    );
  }
});

// Web Push (docs/notifications.md "Browser push"): the payload is the notification as JSON
// {id, type, title, body, conversation_id, url, created_at}. Shown unless an inbox window is
// focused (the open inbox shows it in the app already); a click opens the conversation.
self.addEventListener('push', (event) => {
  let n = {};
  try {
    n = event.data ? event.data.json() : {};
  } catch {
    n = { title: 'Inbox', body: event.data ? event.data.text() : '' };
  }
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      if (windows.some((w) => w.focused && w.visibilityState === 'visible')) return undefined;
      return self.registration.showNotification(n.title || 'Inbox', {
        body: n.body || '',
        tag: n.id || undefined,
        icon: '/icon.svg',
        // The web inbox opens a conversation from `?conversation=`.
        data: { url: n.conversation_id ? `/?conversation=${encodeURIComponent(n.conversation_id)}` : '/' },
      });
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin);
  // Only our own origin: a payload cannot send the click elsewhere.
  const url = target.origin === self.location.origin ? target.href : self.location.origin + '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) return open.focus().then((w) => (w && 'navigate' in w ? w.navigate(url) : undefined));
      return self.clients.openWindow(url);
    }),
  );
});

// The browser replaced the subscription (expiry, key change): the inbox registers the new one
// the next time its settings are opened; nothing to send from here without the person's token.
