// The web chat's sign-in: an access token from the URL fragment (#token=...) or the paste field, kept in this
// tab's sessionStorage so that a reload stays signed in. The page never sees account credentials.
'use strict';

window.WebChatSession = (() => {
  const KEY = 'bridge.webchat.token';

  // Takes a token out of the fragment and removes the fragment, so it is not left in the address bar or history.
  function takeFromFragment() {
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    const token = (fragment.get('token') || '').trim();
    if (window.location.hash) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
    if (token) save(token);
    return token;
  }

  function save(token) {
    window.sessionStorage.setItem(KEY, token);
  }

  function stored() {
    return window.sessionStorage.getItem(KEY) || '';
  }

  function forget() {
    window.sessionStorage.removeItem(KEY);
  }

  // The identity the token names (its chat grant's), for the header before the SDK has connected.
  // Only read for display: the gateway is what verifies the token.
  function identityOf(token) {
    try {
      const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(payload));
      return (claims.grants && claims.grants.identity) || '';
    } catch (error) {
      return '';
    }
  }

  return { takeFromFragment, save, stored, forget, identityOf };
})();
