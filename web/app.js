// The Shopgraph web client: sign in, search the catalog or pick a product, add it to the cart,
// apply a coupon, pay with a test card and watch the order's status live. Plain DOM, no build step; it talks to the
// router it is served by: GraphQL over HTTP at /graphql, and graphql-ws on the same URL for the
// live status.
import { createClient } from '/vendor/graphql-ws/client.js';

// Operations. (They live here, not in e2e/operations, while the subscription is not in every
// supergraph yet: the schema check validates those files.)
const CART_VIEW = `fragment CartView on Cart { lines { product { id name } quantity lineTotal { amount currency } } subtotal { amount currency }
  coupon { code description problem { code message } } discount { amount currency } total { amount currency } }`;
const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresIn user { id email name } errors { code message field } } }';
const REFRESH = 'mutation RefreshToken($input: RefreshTokenInput!) { refreshToken(input: $input) { accessToken refreshToken expiresIn errors { code message } } }';
const LOGOUT = 'mutation Logout($input: LogoutInput!) { logout(input: $input) { errors { code message } } }';
const PRODUCT_ROW = 'fragment ProductRow on Product { id name price { amount currency } availableQuantity inStock rating { average count } }';
const PRODUCT_REVIEWS = `query ProductReviews($id: ID!, $first: Int) { product(id: $id) { id name rating { average count distribution }
  reviews(first: $first) { totalCount edges { node { id rating title body verifiedPurchase createdAt author { name } } } } } }`;
const SHOP = `query Shop { products(first: 8) { edges { node { ...ProductRow } } } paymentMethods { id description } cart { ...CartView } } ${PRODUCT_ROW} ${CART_VIEW}`;
const SEARCH_SUGGESTIONS = 'query SearchSuggestions($prefix: String!, $first: Int) { searchSuggestions(prefix: $prefix, first: $first) }';
const SEARCH_PRODUCTS = `query SearchProducts($query: String!, $first: Int, $after: String, $filter: ProductSearchFilter) {
  searchProducts(query: $query, first: $first, after: $after, filter: $filter) {
    total
    edges { node { ...ProductRow } }
    pageInfo { hasNextPage endCursor }
    facets { categories { category { id name } count } priceRanges { min max count } }
  }
} ${PRODUCT_ROW}`;
const ADD_TO_CART = `mutation AddToCart($input: AddToCartInput!) { addToCart(input: $input) { cart { ...CartView } errors { code message } } } ${CART_VIEW}`;
const APPLY_COUPON = `mutation ApplyCoupon($input: ApplyCouponInput!) { applyCoupon(input: $input) { cart { ...CartView } errors { code message } } } ${CART_VIEW}`;
const REMOVE_COUPON = `mutation RemoveCoupon { removeCoupon { cart { ...CartView } errors { code message } } } ${CART_VIEW}`;
const ORDER_AMOUNTS = 'fragment OrderAmounts on Order { coupon discount { amount currency } total { amount currency } }';
const PLACE_ORDER = `mutation PlaceOrder($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status statusHistory { version status reason at } ...OrderAmounts } errors { code message field } } } ${ORDER_AMOUNTS}`;
const ORDER = `query Order($id: ID!) { order(id: $id) { id status statusHistory { version status reason at } ...OrderAmounts payment { status } shipment { trackingNumber } } } ${ORDER_AMOUNTS}`;
const NOTIFICATION_COUNT = 'query NotificationCount { me { id notifications(first: 0) { unreadCount } } }';
const ORDER_STATUS = 'subscription OrderStatus($orderId: ID!, $after: Int) { orderStatusChanged(orderId: $orderId, after: $after) { version status reason at order { status payment { status } shipment { trackingNumber } } } }';

/** Statuses after which nothing more happens to an order. */
const FINAL = new Set(['OUT_OF_STOCK', 'PAYMENT_FAILED', 'REJECTED', 'CANCELLED', 'DELIVERED']);
/** Statuses where checkout is over (the cart and stock have changed; a failed order's lines are back in the cart). */
const SETTLED = new Set([...FINAL, 'CONFIRMED']);
/** What a status means for the customer, where the status alone does not say it. */
const STATUS_NOTES = {
  UNDER_REVIEW: 'Held for a payment review: you are not charged unless it is approved. This page follows the decision.',
  REJECTED: 'Rejected after a payment review: you were not charged, and the items are back in your cart.',
};

const $ = (id) => document.getElementById(id);

/** Creates an element; children are nodes or text (never parsed as HTML). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((child) => child != null));
  return element;
}

const money = ({ amount, currency }) => {
  const format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
  return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
};

const notice = (text) => ($('notice').textContent = text);

// --- GraphQL over HTTP, with the session's token ------------------------------------------------

class RequestError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join('; '));
    this.code = errors[0]?.extensions?.code;
  }
}

/** The session: tokens and the signed-in user; null when signed out. */
let session = null;

async function gql(query, variables = {}, { authorized = true, retry = true } = {}) {
  const current = authorized ? session : null;
  const headers = { 'content-type': 'application/json' };
  if (current) headers.authorization = `Bearer ${current.accessToken}`;
  const response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json().catch(() => ({ errors: [{ message: `The server answered ${response.status}` }] }));
  if (body.errors?.length) {
    const error = new RequestError(body.errors);
    // A token that expired (or was revoked) in the meantime: refresh once and retry.
    if (error.code === 'UNAUTHENTICATED' && current && retry && (await refresh())) return gql(query, variables, { retry: false });
    throw error;
  }
  return body.data;
}

/** Seconds the access token lives: from the payload's expiresIn, else the JWT's `exp`. */
function lifetimeOf({ accessToken, expiresIn }) {
  if (expiresIn) return expiresIn;
  const claims = JSON.parse(atob(accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  return claims.exp - Date.now() / 1000;
}

let refreshTimer;
let refreshing;

function startSession(tokens, user) {
  session = { user, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
  scheduleRefresh(lifetimeOf(tokens));
}

/** Refreshes a minute before expiry (or at 80% of a short lifetime). */
function scheduleRefresh(lifetimeSeconds) {
  clearTimeout(refreshTimer);
  const lifetime = lifetimeSeconds * 1000;
  refreshTimer = setTimeout(refresh, Math.max(1_000, Math.min(lifetime - 60_000, lifetime * 0.8)));
}

/** Exchanges the refresh token (once at a time); resolves whether the session goes on. */
function refresh() {
  const current = session;
  if (!current) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const { refreshToken: result } = await gql(REFRESH, { input: { refreshToken: current.refreshToken } }, { authorized: false });
      if (session !== current) return false;
      if (!result.accessToken) {
        signOut(`Your session has ended (${result.errors[0]?.message ?? 'refresh refused'}). Please sign in again.`);
        return false;
      }
      Object.assign(current, { accessToken: result.accessToken, refreshToken: result.refreshToken });
      scheduleRefresh(lifetimeOf(result));
      presentToken();
      return true;
    } catch (error) {
      // Offline or the server is away: try again shortly, the token may still be good.
      if (session === current) refreshTimer = setTimeout(refresh, 5_000);
      console.warn('token refresh failed', error);
      return false;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

// --- graphql-ws ---------------------------------------------------------------------------------

let wsClient;
let openSocket;

/** One lazy connection per session; reconnecting is done per subscription (see watch). */
function ws() {
  wsClient ??= createClient({
    url: new URL('/graphql', location.href).href.replace(/^http/, 'ws'),
    connectionParams: () => ({ authorization: `Bearer ${session?.accessToken}` }),
    retryAttempts: 0,
    on: {
      connected: (socket) => (openSocket = socket),
      closed: () => (openSocket = undefined),
    },
  });
  return wsClient;
}

/** Gives an open connection the refreshed token (the server closes it at the old one's expiry otherwise). */
function presentToken() {
  if (openSocket?.readyState !== WebSocket.OPEN || !session) return;
  openSocket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${session.accessToken}` } }));
}

// --- the order's status: live over graphql-ws, else polled ----------------------------------------

let watcher;

function watch(order) {
  watcher?.stop();
  let lastVersion = 0;
  let stopped = false;
  let failures = 0;
  let unsubscribe;
  let timer;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    unsubscribe?.();
  };
  const apply = (change, view) => {
    if (change.version <= lastVersion) return;
    lastVersion = change.version;
    showChange(change, view);
    // The cart and stock follow the order. A held order has taken its lines and coupon from the
    // cart already, and a review may take long: the cart is shown as it is meanwhile.
    if (SETTLED.has(change.status) || change.status === 'UNDER_REVIEW') setTimeout(loadShop, 1_000);
  };
  const mode = (text) => ($('watch-mode').textContent = text);

  const subscribe = () => {
    if (stopped) return;
    mode('Live updates on.');
    unsubscribe = ws().subscribe({ query: ORDER_STATUS, variables: { orderId: order.id, after: lastVersion } }, {
      next: ({ data, errors }) => {
        if (errors?.length) console.warn('order status update with errors', errors);
        if (!data?.orderStatusChanged) return;
        failures = 0;
        const change = data.orderStatusChanged;
        apply(change, change.order);
        if (FINAL.has(change.status)) stop();
      },
      error: async (error) => {
        if (stopped) return;
        if (Array.isArray(error)) {
          // Refused by the server (e.g. the subscription is not in this supergraph): poll instead.
          console.warn('subscription refused; polling', error);
          return poll();
        }
        // Closed (4401: token expired or refused) or the network went away: reconnect and
        // resume after the last version seen, so nothing is missed or shown twice.
        mode('Reconnecting…');
        if (error?.code === 4401 && !(await refresh()) && !session) return;
        failures += 1;
        timer = setTimeout(subscribe, Math.min(10_000, 250 * 2 ** failures));
      },
      complete: () => {
        if (!stopped) poll();
      },
    });
  };

  const poll = async () => {
    if (stopped) return;
    mode('Live updates unavailable; checking every second.');
    try {
      const { order: current } = await gql(ORDER, { id: order.id });
      for (const change of current.statusHistory) apply(change, current);
      showDetail(current);
      showAmounts(current);
      if (FINAL.has(current.status)) return stop();
      // Once confirmed only shipping is left to happen, and a review waits for a person: no need to ask every second.
      timer = setTimeout(poll, ['CONFIRMED', 'SHIPPED', 'UNDER_REVIEW'].includes(current.status) ? 15_000 : 1_000);
    } catch (error) {
      mode(`Could not check the order: ${error.message}. Retrying…`);
      timer = setTimeout(poll, 3_000);
    }
  };

  for (const change of order.statusHistory) apply(change, null);
  watcher = { stop };
  subscribe();
}

function showChange(change, view) {
  const status = $('order-status');
  status.textContent = change.status;
  status.dataset.status = change.status;
  const note = $('order-status-note');
  note.textContent = STATUS_NOTES[change.status] ?? '';
  note.dataset.status = change.status;
  note.hidden = !note.textContent;
  $('timeline').append(h('li', {}, h('strong', {}, change.status), ' ', h('time', { datetime: change.at }, new Date(change.at).toLocaleTimeString()), change.reason ? ` — ${change.reason}` : null));
  if (view) showDetail(view);
}

/** What the order costs, with the coupon it was placed with. */
function showAmounts(order) {
  const discounted = Boolean(order.coupon && order.discount);
  $('order-discount-row').hidden = !discounted;
  $('order-discount-label').textContent = discounted ? `Coupon ${order.coupon}` : '';
  $('order-discount').textContent = discounted ? `−${money(order.discount)}` : '';
  $('order-total').textContent = money(order.total);
}

function showDetail(view) {
  const parts = [];
  if (view.payment) parts.push(`Payment: ${view.payment.status}`);
  if (view.shipment?.trackingNumber) parts.push(`Tracking number: ${view.shipment.trackingNumber}`);
  $('order-detail').textContent = parts.join(' · ');
}

// --- the page -----------------------------------------------------------------------------------

function showSignedIn(signedIn) {
  $('sign-in').hidden = signedIn;
  $('shop').hidden = !signedIn;
  $('who').hidden = !signedIn;
}

function renderCart(cart) {
  const lines = cart?.lines ?? [];
  $('cart-lines').replaceChildren(...(lines.length
    ? lines.map((line) => h('li', {}, `${line.product?.name ?? 'Unavailable product'} × ${line.quantity}`, h('span', { class: 'amount' }, money(line.lineTotal))))
    : [h('li', { class: 'hint' }, 'Your cart is empty.')]));
  $('subtotal').textContent = cart && lines.length ? money(cart.subtotal) : '—';
  $('discount-row').hidden = !(lines.length && cart.discount);
  $('discount').textContent = lines.length && cart.discount ? `−${money(cart.discount)}` : '';
  $('total').textContent = cart && lines.length ? money(cart.total ?? cart.subtotal) : '—';
  renderCoupon(cart?.coupon ?? null);
  $('place-order').disabled = !lines.length;
  checkoutKey = undefined; // a different cart is a different order
}

/**
 * The applied coupon with its Remove button, or the field to apply one (one coupon per cart). A
 * coupon that does not apply to the cart as it is stays applied: its problem says why (e.g. how
 * much more to add), and it applies once the cart qualifies.
 */
function renderCoupon(coupon) {
  $('coupon-applied').hidden = !coupon;
  $('coupon-form').hidden = Boolean(coupon);
  $('coupon-code').textContent = coupon?.code ?? '';
  $('coupon-description').textContent = coupon?.description ?? '';
  $('coupon-problem').textContent = coupon?.problem?.message ?? '';
  $('coupon-problem').hidden = !coupon?.problem;
}

function showCouponError(message) {
  $('coupon-error').textContent = message;
  if (message) $('coupon-input').setAttribute('aria-invalid', 'true');
  else $('coupon-input').removeAttribute('aria-invalid');
}

async function applyCoupon(event) {
  event.preventDefault();
  const code = $('coupon-input').value.trim();
  showCouponError('');
  if (!code) return showCouponError('Type the coupon code.');
  const form = $('coupon-form');
  form.setAttribute('aria-busy', 'true');
  try {
    const { applyCoupon: result } = await gql(APPLY_COUPON, { input: { code } });
    if (result.errors.length) showCouponError(result.errors.map((error) => error.message).join(' '));
    if (result.cart) renderCart(result.cart);
    if (!result.errors.length) {
      $('coupon-input').value = '';
      $('coupon-applied').focus(); // the field is gone: read out what replaced it
    }
  } catch (error) {
    showCouponError(`Could not apply the coupon: ${error.message}`);
  } finally {
    form.removeAttribute('aria-busy');
  }
}

async function removeCoupon() {
  showCouponError('');
  const button = $('remove-coupon');
  button.disabled = true;
  try {
    const { removeCoupon: result } = await gql(REMOVE_COUPON);
    if (result.errors.length) showCouponError(result.errors.map((error) => error.message).join(' '));
    if (result.cart) renderCart(result.cart);
    if (!$('coupon-form').hidden) $('coupon-input').focus();
  } catch (error) {
    showCouponError(`Could not remove the coupon: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

/** A product's row in a product table (the list and the search results). */
const productRow = (product) => h('tr', {},
  h('th', { scope: 'row' }, h('span', { class: 'product-name' }, product.name), h('br'),
    h('button', { type: 'button', class: 'link rating', 'aria-label': `Reviews of ${product.name}: ${ratingText(product.rating)}`, onclick: () => showReviews(product.id) }, ratingText(product.rating))),
  h('td', {}, money(product.price)),
  h('td', {}, product.inStock ? String(product.availableQuantity) : 'Sold out'),
  h('td', {}, h('button', { type: 'button', disabled: !product.inStock, 'aria-label': `Add ${product.name} to cart`, onclick: () => addToCart(product.id) }, 'Add to cart')),
);

function renderProducts(products) {
  $('products').replaceChildren(...products.map(productRow));
}

// --- a product's rating and reviews (reviews' text is the customers': always set as text) --------

const stars = (n) => '★'.repeat(n) + '☆'.repeat(5 - n);

/** "★ 4.3 (12 reviews)", or that there are none (or none to show, when reviews cannot answer). */
function ratingText(rating) {
  if (!rating?.count) return 'No reviews yet';
  return `★ ${rating.average.toFixed(1)} (${rating.count} review${rating.count === 1 ? '' : 's'})`;
}

async function showReviews(productId) {
  const section = $('reviews');
  section.hidden = false;
  $('reviews-error').textContent = '';
  section.setAttribute('aria-busy', 'true');
  try {
    const { product } = await gql(PRODUCT_REVIEWS, { id: productId, first: 10 });
    if (!product) throw new Error('This product is no longer available');
    $('reviews-title').textContent = `Reviews of ${product.name}`;
    $('rating-summary').textContent = ratingText(product.rating);
    const distribution = product.rating?.distribution ?? [];
    $('rating-distribution').replaceChildren(...(product.rating?.count
      ? distribution.map((count, i) => ({ count, stars: i + 1 })).reverse()
        .map(({ count, stars: n }) => h('li', { 'aria-label': `${n} stars: ${count}` }, h('span', { 'aria-hidden': 'true' }, stars(n)), ` ${count}`))
      : []));
    $('review-list').replaceChildren(...product.reviews.edges.map(({ node }) => h('li', { class: 'review' },
      h('p', {}, h('span', { class: 'stars', role: 'img', 'aria-label': `${node.rating} out of 5 stars` }, stars(node.rating)), ' ', h('strong', {}, node.title)),
      node.body ? h('p', { class: 'review-body' }, node.body) : null,
      h('p', { class: 'hint' }, `${node.author?.name ?? 'A customer'} · ${new Date(node.createdAt).toLocaleDateString()}`, node.verifiedPurchase ? h('span', { class: 'verified' }, ' · Verified purchase') : null),
    )));
    section.scrollIntoView({ block: 'nearest' });
  } catch (error) {
    $('reviews-error').textContent = `Could not load the reviews: ${error.message}`;
  } finally {
    section.removeAttribute('aria-busy');
  }
}

function renderPaymentMethods(methods) {
  const container = $('payment-methods');
  const chosen = container.querySelector('input:checked')?.value ?? methods[0]?.id;
  container.replaceChildren(...methods.map((method) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'paymentMethod', value: method.id, checked: method.id === chosen, required: true }),
    ` ${method.description} `, h('code', {}, method.id))));
}

/** The signed-in user's unread notifications, beside their name; hidden when none (or notifications cannot answer). */
async function refreshNotificationCount() {
  const badge = $('notification-count');
  try {
    const unread = (await gql(NOTIFICATION_COUNT)).me?.notifications.unreadCount ?? 0;
    badge.textContent = `${unread} unread notification${unread === 1 ? '' : 's'}`;
    badge.hidden = unread === 0;
  } catch {
    badge.hidden = true;
  }
}

async function loadShop() {
  if (!session) return;
  void refreshNotificationCount();
  try {
    const data = await gql(SHOP);
    renderProducts(data.products.edges.map((edge) => edge.node));
    renderPaymentMethods(data.paymentMethods);
    renderCart(data.cart);
  } catch (error) {
    notice(`Could not load the shop: ${error.message}`);
  }
}

async function addToCart(productId) {
  $('cart-error').textContent = '';
  try {
    const { addToCart: result } = await gql(ADD_TO_CART, { input: { productId, quantity: 1 } });
    if (result.errors.length) $('cart-error').textContent = result.errors.map((error) => error.message).join(' ');
    if (result.cart) renderCart(result.cart);
  } catch (error) {
    $('cart-error').textContent = error.message;
  }
}

// --- search: suggestions as you type (a combobox), results with facets and paging ------------------

const SUGGEST_DELAY_MS = 150;
const SUGGESTIONS = 6;
const RESULTS_PAGE = 10;

const searchInput = $('search-input');
const suggestionList = $('suggestions');

/** The search on screen ({ query, filter, shown, endCursor }); null when there is none. */
let search = null;
/** Each request takes the next number; an answer to anything but the latest is dropped. */
let suggestRequest = 0;
let searchRequest = 0;
let suggestTimer;

function searchErrorMessage(error) {
  if (error.code === 'SEARCH_UNAVAILABLE') return 'Search is unavailable right now; please try again in a moment. The rest of the shop still works.';
  if (error.code === 'BAD_USER_INPUT') return `That search could not be run: ${error.message}`;
  return `Search failed: ${error.message}`;
}

const suggestionOptions = () => [...suggestionList.children];
const activeSuggestion = () => suggestionOptions().findIndex((option) => option.getAttribute('aria-selected') === 'true');

function setActiveSuggestion(index) {
  const options = suggestionOptions();
  options.forEach((option, i) => option.setAttribute('aria-selected', String(i === index)));
  if (options[index]) {
    searchInput.setAttribute('aria-activedescendant', options[index].id);
    options[index].scrollIntoView({ block: 'nearest' });
  } else {
    searchInput.removeAttribute('aria-activedescendant');
  }
}

function setSuggestionsOpen(open) {
  suggestionList.hidden = !open;
  searchInput.setAttribute('aria-expanded', String(open));
  if (!open) setActiveSuggestion(-1);
}

function showSuggestions(suggestions) {
  // A later answer must not take away the suggestion the shopper has arrowed to, if it still offers it.
  const chosen = suggestionOptions()[activeSuggestion()]?.textContent;
  suggestionList.replaceChildren(...suggestions.map((text, index) => h('li', {
    id: `suggestion-${index}`, role: 'option', 'aria-selected': 'false',
    onmousedown: (event) => event.preventDefault(), // keeps the focus (and the list) in the box
    onclick: () => chooseSuggestion(text),
  }, text)));
  setSuggestionsOpen(suggestions.length > 0);
  setActiveSuggestion(chosen === undefined ? -1 : suggestions.indexOf(chosen));
}

function closeSuggestions() {
  clearTimeout(suggestTimer);
  suggestRequest += 1; // an answer still on its way is no longer wanted
  setSuggestionsOpen(false);
}

/** Asks for suggestions once typing pauses, not on every key. */
function suggestSoon() {
  clearTimeout(suggestTimer);
  const prefix = searchInput.value.trim();
  if (!prefix) return closeSuggestions();
  suggestTimer = setTimeout(() => suggest(prefix), SUGGEST_DELAY_MS);
}

async function suggest(prefix) {
  const request = ++suggestRequest;
  try {
    const { searchSuggestions } = await gql(SEARCH_SUGGESTIONS, { prefix, first: SUGGESTIONS });
    if (request === suggestRequest) showSuggestions(searchSuggestions);
  } catch (error) {
    // Suggestions are a convenience: the box still searches, and a search says what is wrong.
    if (request === suggestRequest) setSuggestionsOpen(false);
    console.warn('suggestions failed', error);
  }
}

function chooseSuggestion(text) {
  searchInput.value = text;
  runSearch(text);
}

function onSearchKey(event) {
  const options = suggestionOptions();
  const open = !suggestionList.hidden;
  if ((event.key === 'ArrowDown' || event.key === 'ArrowUp') && options.length) {
    event.preventDefault();
    setSuggestionsOpen(true);
    const current = activeSuggestion();
    const step = event.key === 'ArrowDown' ? 1 : -1;
    setActiveSuggestion(current < 0 ? (step > 0 ? 0 : options.length - 1) : (current + step + options.length) % options.length);
  } else if (event.key === 'Enter' && open && activeSuggestion() >= 0) {
    event.preventDefault();
    chooseSuggestion(options[activeSuggestion()].textContent);
  } else if (event.key === 'Escape' && open) {
    event.preventDefault();
    closeSuggestions();
  }
}

function runSearch(text) {
  closeSuggestions();
  const query = text.trim();
  if (!query) {
    $('search-error').textContent = 'Type what you are looking for.';
    return;
  }
  search = { query, filter: {}, shown: 0, endCursor: null };
  loadResults();
}

/** Changes the filter (a key set to null is dropped) and searches again from the first page. */
function narrow(changes) {
  const filter = Object.fromEntries(Object.entries({ ...search.filter, ...changes }).filter(([, value]) => value != null));
  search = { ...search, filter, shown: 0, endCursor: null };
  loadResults();
}

async function loadResults({ more = false } = {}) {
  const current = search;
  const request = ++searchRequest;
  const results = $('search-results');
  $('search-error').textContent = '';
  $('more-results').disabled = true;
  results.setAttribute('aria-busy', 'true');
  try {
    const variables = { query: current.query, first: RESULTS_PAGE, after: more ? current.endCursor : null, filter: Object.keys(current.filter).length ? current.filter : null };
    const { searchProducts: page } = await gql(SEARCH_PRODUCTS, variables);
    if (request !== searchRequest) return;
    const products = page.edges.map((edge) => edge.node);
    current.shown += products.length;
    current.endCursor = page.pageInfo.endCursor;
    if (more) $('search-products').append(...products.map(productRow));
    else {
      $('search-products').replaceChildren(...products.map(productRow));
      renderFacets(page.facets, current.filter, products[0]?.price.currency ?? 'USD');
    }
    $('search-summary').textContent = summaryOf(current, page.total);
    $('more-results').hidden = !page.pageInfo.hasNextPage;
    results.querySelector('table').hidden = current.shown === 0;
    results.hidden = false;
  } catch (error) {
    if (request !== searchRequest) return;
    $('search-error').textContent = searchErrorMessage(error);
    if (!more) results.hidden = true; // the results of another query or filter would mislead
  } finally {
    if (request === searchRequest) {
      $('more-results').disabled = false;
      results.removeAttribute('aria-busy');
    }
  }
}

function summaryOf({ query, filter, shown }, total) {
  const narrowed = Object.keys(filter).length ? ' (filtered)' : '';
  if (total === 0) return `No products match “${query}”${narrowed}.`;
  const count = `${total} ${total === 1 ? 'result' : 'results'} for “${query}”${narrowed}`;
  return shown < total ? `${count}, showing ${shown}.` : `${count}.`;
}

/** A price band; both ends are inclusive, the last band has no upper end. */
function priceRangeLabel({ min, max }, currency) {
  if (max == null) return `${money({ amount: min, currency })} and up`;
  if (min === 0) return `Up to ${money({ amount: max, currency })}`;
  return `${money({ amount: min, currency })} – ${money({ amount: max, currency })}`;
}

/** A facet as a toggle: pressing narrows the results to it, pressing again widens them back. */
const facetButton = (label, count, pressed, onPress) =>
  h('button', { type: 'button', class: 'facet', 'aria-pressed': String(pressed), onclick: onPress }, label, ' ', h('span', { class: 'count' }, `(${count})`));

function renderFacets(facets, filter, currency) {
  const group = (id, title, buttons) => buttons.length
    ? h('div', { class: 'facet-group', role: 'group', 'aria-labelledby': id }, h('span', { id, class: 'facet-title' }, title), ...buttons)
    : null;
  const categories = facets.categories.filter(({ count, category }) => count > 0 || filter.categoryId === category.id).map(({ category, count }) => {
    const pressed = filter.categoryId === category.id;
    return facetButton(category.name, count, pressed, () => narrow({ categoryId: pressed ? null : category.id }));
  });
  const chosen = (range) => filter.minPrice === range.min && (filter.maxPrice ?? null) === range.max;
  const prices = facets.priceRanges.filter((range) => range.count > 0 || chosen(range)).map((range) => {
    const pressed = chosen(range);
    return facetButton(priceRangeLabel(range, currency), range.count, pressed, () => narrow(pressed ? { minPrice: null, maxPrice: null } : { minPrice: range.min, maxPrice: range.max }));
  });
  const inStock = filter.inStock === true;
  $('facets').replaceChildren(...[
    group('facet-category', 'Category', categories),
    group('facet-price', 'Price', prices),
    group('facet-stock', 'Availability', [h('button', { type: 'button', class: 'facet', 'aria-pressed': String(inStock), onclick: () => narrow({ inStock: inStock ? null : true }) }, 'In stock only')]),
    Object.keys(filter).length ? h('button', { type: 'button', class: 'link', onclick: () => narrow({ categoryId: null, minPrice: null, maxPrice: null, inStock: null }) }, 'Clear filters') : null,
  ].filter(Boolean));
}

function clearSearch() {
  search = null;
  searchRequest += 1;
  closeSuggestions();
  searchInput.value = '';
  $('search-error').textContent = '';
  $('search-results').hidden = true;
}

/** Kept until the server answers, so retrying after a lost response never orders twice. */
let checkoutKey;
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');

async function placeOrder(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const error = $('checkout-error');
  error.textContent = '';
  const button = $('place-order');
  button.disabled = true;
  checkoutKey ??= newKey();
  const text = (name) => String(form.get(name) ?? '').trim();
  const shippingAddress = { name: text('name'), line1: text('line1'), line2: text('line2') || null, city: text('city'), postalCode: text('postalCode'), country: text('country').toUpperCase() };
  try {
    const { placeOrder: result } = await gql(PLACE_ORDER, { input: { idempotencyKey: checkoutKey, shippingAddress, paymentMethod: form.get('paymentMethod') } });
    checkoutKey = undefined;
    if (result.errors.length) error.textContent = result.errors.map((e) => e.message).join(' ');
    if (result.order) {
      $('order').hidden = false;
      $('order-id').textContent = result.order.id;
      $('order-detail').textContent = '';
      $('timeline').replaceChildren();
      showAmounts(result.order);
      watch(result.order);
      $('order').scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  } catch (e) {
    error.textContent = `${e.message}. Your order was not placed, or is being placed: try again, it will not be placed twice.`;
  } finally {
    button.disabled = false;
  }
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const error = $('sign-in-error');
  error.textContent = '';
  try {
    const { login } = await gql(LOGIN, { input: { email: String(form.get('email')).trim(), password: String(form.get('password')) } }, { authorized: false });
    if (login.errors.length || !login.accessToken) {
      error.textContent = login.errors.map((e) => e.message).join(' ') || 'Could not sign in.';
      return;
    }
    startSession(login, login.user);
    event.target.reset();
    $('who').querySelector('[data-testid="user-name"]').textContent = login.user.name;
    $('ship-name').value ||= login.user.name;
    notice('');
    showSignedIn(true);
    await loadShop();
  } catch (e) {
    error.textContent = e.message;
  }
}

function signOut(message = '') {
  const ended = session;
  session = null;
  clearTimeout(refreshTimer);
  watcher?.stop();
  wsClient?.dispose();
  wsClient = undefined;
  if (ended && !message) gql(LOGOUT, { input: { refreshToken: ended.refreshToken } }, { authorized: false }).catch(() => {});
  $('order').hidden = true;
  $('ship-name').value = '';
  $('coupon-input').value = '';
  showCouponError('');
  clearSearch();
  showSignedIn(false);
  notice(message);
}

$('sign-in-form').addEventListener('submit', signIn);
$('checkout-form').addEventListener('submit', placeOrder);
$('coupon-form').addEventListener('submit', applyCoupon);
$('remove-coupon').addEventListener('click', removeCoupon);
$('sign-out').addEventListener('click', () => signOut());
$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  runSearch(searchInput.value);
});
searchInput.addEventListener('input', suggestSoon);
searchInput.addEventListener('keydown', onSearchKey);
searchInput.addEventListener('blur', closeSuggestions);
$('more-results').addEventListener('click', () => loadResults({ more: true }));
