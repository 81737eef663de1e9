// The app's service worker (served at /sw.js, shared::paths::SERVICE_WORKER, so that its scope
// is the whole app). Plain JavaScript on purpose: it runs without the page, and none of it
// belongs in the wasm (docs/PWA.md).
//
// - The app shell is cached so that the app opens with the server down (and then says it is
//   offline): navigations go to the network first and fall back to the cached index.html;
//   trunk's hashed files (their names change with their content) come from the cache first;
//   other static files (the manifest, the icons) from the network first. The shell is
//   (re)filled from index.html at install and after every navigation that reached the server,
//   and hashed files the new index.html no longer names are dropped.
// - Nothing that talks to the server is ever cached or answered from the cache: the API,
//   the sockets and their HTTP fallbacks, metrics and probes, uploads (PASS_THROUGH).
// - A push (shared::push::Notice as JSON) shows one notification per conversation; a click on
//   it opens the conversation at the message (`/?open=WHERE&at=ID`) in an app window.

'use strict';

/// The shell's cache. A new name (a change of what is kept or how) drops the old one.
const SHELL = 'chat-shell-v1';

/// Where the app's HTML is kept: the server answers every app path with the same index.html.
const INDEX = '/';

/// Paths that reach the server itself (shared/src/paths.rs): never cached, never answered
/// here, with everything below them (`/api` covers the account and push APIs, CSP reports and
/// the uploads; `/ws` the echo socket too).
const PASS_THROUGH = ['/api', '/ws', '/sse', '/poll', '/send', '/metrics', '/healthz', '/readyz'];

/// Static files the shell always keeps besides what index.html names.
const ALWAYS = ['/manifest.webmanifest', '/icons/icon-192.png'];

/// trunk's content-hashed file names (`frontend-0123456789abcdef_bg.wasm`): never change.
const HASHED = /-[0-9a-f]{16}(_bg)?\.[a-z]+$/;

/// Whether `url` is ours to cache: this origin, a GET, not a server endpoint.
function cacheable(request, url) {
  return (
    request.method === 'GET' &&
    url.origin === self.location.origin &&
    url.pathname !== '/sw.js' &&
    !PASS_THROUGH.some((path) => url.pathname === path || url.pathname.startsWith(`${path}/`))
  );
}

/// The same-origin files an index.html names (its stylesheet, script and wasm).
function namedBy(html) {
  const found = new Set(ALWAYS);
  for (const match of html.matchAll(/(?:href|src|module_or_path:)\s*=?\s*["']([^"']+)["']/g)) {
    const url = new URL(match[1], self.location.origin);
    if (url.origin === self.location.origin && HASHED.test(url.pathname)) {
      found.add(url.pathname);
    }
  }
  return [...found];
}

/// Keeps `html` (a fresh index.html) and the files it names; drops hashed files it does not
/// name any more (an older build's).
async function refreshShell(html) {
  const cache = await caches.open(SHELL);
  const wanted = namedBy(html);
  const held = new Set((await cache.keys()).map((request) => new URL(request.url).pathname));
  const missing = wanted.filter((path) => !held.has(path));
  // One by one, so that one file missing (a deploy under way) does not lose the others.
  await Promise.all(
    missing.map(async (path) => {
      const response = await fetch(path, { cache: 'no-cache' }).catch(() => null);
      if (response && response.ok) {
        await cache.put(path, response);
      }
    }),
  );
  await Promise.all(
    [...held]
      .filter((path) => HASHED.test(path) && !wanted.includes(path))
      .map((path) => cache.delete(path)),
  );
}

self.addEventListener('install', (event) => {
  // The page that registers the worker was not loaded through it: fetch the shell now, so
  // that the very next visit works offline.
  event.waitUntil(
    (async () => {
      const response = await fetch(INDEX, { cache: 'no-cache' });
      if (!response.ok) {
        throw new Error(`index.html answered ${response.status}`);
      }
      const cache = await caches.open(SHELL);
      await cache.put(INDEX, response.clone());
      await refreshShell(await response.text());
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== SHELL) {
          await caches.delete(name);
        }
      }
      // The page open now is served by this worker from here on (it caches what it loads).
      await self.clients.claim();
    })(),
  );
});

/// A navigation: the network first (a new deploy is seen at once), else the cached app.
async function navigate(event) {
  try {
    const response = await fetch(event.request);
    const html = response.ok && (response.headers.get('content-type') || '').includes('text/html');
    if (html) {
      const copy = response.clone();
      event.waitUntil(
        (async () => {
          const text = await copy.clone().text();
          const cache = await caches.open(SHELL);
          await cache.put(INDEX, copy);
          await refreshShell(text);
        })(),
      );
    }
    return response;
  } catch (offline) {
    const cached = await caches.match(INDEX);
    if (cached) {
      return cached;
    }
    throw offline;
  }
}

/// A static file: a hashed one from the cache first, others from the network first.
async function staticFile(event, url) {
  const cache = await caches.open(SHELL);
  if (HASHED.test(url.pathname)) {
    const cached = await cache.match(event.request);
    if (cached) {
      return cached;
    }
  }
  try {
    const response = await fetch(event.request);
    if (response.ok && response.type === 'basic') {
      event.waitUntil(cache.put(event.request, response.clone()));
    }
    return response;
  } catch (offline) {
    const cached = await cache.match(event.request);
    if (cached) {
      return cached;
    }
    throw offline;
  }
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (!cacheable(event.request, url)) {
    // Not answered here: the browser goes to the network as if there were no worker.
    return;
  }
  if (event.request.mode === 'navigate') {
    event.respondWith(navigate(event));
  } else {
    event.respondWith(staticFile(event, url));
  }
});

/// "New message" in the browser's language (Korean or English, as the app chooses when
/// nothing was picked: the first of the browser's languages it has).
function newMessage() {
  for (const tag of self.navigator.languages || [self.navigator.language || '']) {
    const primary = tag.split(/[-_]/)[0].toLowerCase();
    if (primary === 'ko') {
      return '새 메시지';
    }
    if (primary === 'en') {
      return 'New message';
    }
  }
  return 'New message';
}

/// The app's URL that opens `notice`'s conversation at its message.
function noticeUrl(notice) {
  const query = new URLSearchParams({ open: notice.open, at: String(notice.id) });
  return `/?${query}`;
}

/// Shows a push (shared::push::Notice): titled by its sender, or "New message" with private
/// previews; one notification per conversation (tagged by it), replaced quietly by the next.
function showNotice(notice) {
  return self.registration.showNotification(notice.from || newMessage(), {
    body: notice.preview || '',
    tag: notice.open,
    renotify: false,
    icon: '/icons/icon-192.png',
    data: { url: noticeUrl(notice) },
  });
}

self.addEventListener('push', (event) => {
  let notice = null;
  try {
    notice = event.data ? event.data.json() : null;
  } catch (unreadable) {
    notice = null;
  }
  if (!notice || typeof notice.open !== 'string' || typeof notice.id !== 'number') {
    // A push must show something (userVisibleOnly); one we cannot read opens the app.
    notice = { open: '', id: 0 };
  }
  event.waitUntil(showNotice(notice));
});

/// What a click on `notification` does (the `notificationclick` handler, by name so that the
/// release check can run it on a real notification from the worker's console: no DevTools
/// command clicks one): an app window this worker serves is taken to the conversation's URL
/// (the app opens it on load) and focused; without one, a new window opens there.
async function openNotification(notification) {
  notification.close();
  const url = new URL((notification.data && notification.data.url) || '/', self.location.origin).href;
  const windows = await self.clients.matchAll({ type: 'window' });
  for (const app of windows) {
    try {
      const moved = await app.navigate(url);
      if (moved) {
        return moved.focus();
      }
    } catch (notOurs) {
      // A window this worker does not control (e.g. after a hard reload): the next one.
    }
  }
  return self.clients.openWindow(url);
}

self.addEventListener('notificationclick', (event) => {
  event.waitUntil(openNotification(event.notification));
});
