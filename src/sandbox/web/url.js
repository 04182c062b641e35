// WHATWG URL from whatwg-url (the standard's reference implementation, with tr46 for IDNA), and
// URLPattern from urlpattern-polyfill (the WICG polyfill, run against the WPT urlpattern suite).
export { URL, URLSearchParams } from 'whatwg-url';
export { URLPattern } from 'urlpattern-polyfill/urlpattern';
