// The installable app's helpers in the page (docs/PWA.md), plain JavaScript beside the wasm:
// it registers the service worker (/sw.js), and turns Web Push on and off for the app's switch
// (window.chatPush, called by frontend/src/pwa.rs). Here and not in the wasm: the browser's
// service worker and push APIs are promise plumbing that would weigh kilobytes there.
// Nothing here asks the user anything on load: permission is asked by chatPush.subscribe,
// which only the switch calls.

'use strict';

if ('serviceWorker' in navigator) {
  // After the page has loaded: the worker's install fetches the app shell, which should not
  // compete with the page's own first load.
  addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch((err) => {
      console.warn('the service worker could not be registered:', err);
    });
  });
}

/// `method` on the push API at `url` (shared::paths::API_PUSH) with a JSON `body`, naming the
/// user by `headers` as uploads do (none with a session cookie). Resolves to the answer, or
/// throws the problem's name ("not_on_server" for a 404: the server sends no pushes).
async function pushApi(url, method, headers, body) {
  const answer = await fetch(url, {
    method,
    credentials: 'include',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (answer.status === 404) {
    throw 'not_on_server';
  }
  if (!answer.ok) {
    throw `the server answered ${answer.status}`;
  }
  return answer;
}

/// This page's worker registration, or the problem's name where there is no push.
async function pushRegistration() {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    throw 'unsupported';
  }
  return navigator.serviceWorker.ready;
}

/// What the app's switch calls: each resolves to `null` when done, or to the problem's name
/// (`unsupported`, `blocked`, `not_on_server`) or message, for the switch to say.
window.chatPush = {
  /// Asks for permission (the browser asks the user), reads the server's VAPID key (`GET`),
  /// subscribes with it and registers the subscription (`POST` a shared::push::Subscription,
  /// `private` or not). Again with another `private`, registers the same subscription anew.
  async subscribe(url, isPrivate, headers) {
    try {
      // First, while the click that asked is fresh (Firefox wants one for the prompt).
      if (!('Notification' in window)) {
        throw 'unsupported';
      }
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        throw 'blocked';
      }
      const registration = await pushRegistration();
      const { key } = await (await pushApi(url, 'GET', headers)).json();
      const subscription =
        (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({
          userVisibleOnly: true,
          // base64url, as the server gives it: the browser decodes it.
          applicationServerKey: key,
        }));
      const { endpoint, keys } = subscription.toJSON();
      await pushApi(url, 'POST', headers, { endpoint, keys, private: isPrivate });
      return null;
    } catch (problem) {
      return String(problem && problem.message ? problem.message : problem);
    }
  },

  /// Drops this browser's subscription and has the server forget it (`DELETE` a
  /// shared::push::Unsubscribe).
  /// Without a worker there is nothing to drop: `getRegistration`, not `ready`, which would
  /// wait for ever, holding up the logout that calls this first (a page whose worker
  /// failed to register).
  async unsubscribe(url, headers) {
    try {
      const registration =
        'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration() : null;
      if (!registration || !registration.pushManager) {
        return null;
      }
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        const { endpoint } = subscription;
        await subscription.unsubscribe();
        await pushApi(url, 'DELETE', headers, { endpoint });
      }
      return null;
    } catch (problem) {
      return String(problem && problem.message ? problem.message : problem);
    }
  },
};
