// The Shopgraph web client: sign in, add a product to the cart, pay with a test card and watch the
// order's status live. Plain DOM, no build step; it talks to the router it is served by: GraphQL
// over HTTP at /graphql, and graphql-ws on the same URL for the live status.
import { createClient } from '/vendor/graphql-ws/client.js';

// Operations. (They live here, not in e2e/operations, while the subscription is not in every
// supergraph yet: the schema check validates those files.)
const CART_VIEW = 'fragment CartView on Cart { lines { product { id name } quantity lineTotal { amount currency } } subtotal { amount currency } }';
const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresIn user { id email name } errors { code message field } } }';
const REFRESH = 'mutation RefreshToken($input: RefreshTokenInput!) { refreshToken(input: $input) { accessToken refreshToken expiresIn errors { code message } } }';
const LOGOUT = 'mutation Logout($input: LogoutInput!) { logout(input: $input) { errors { code message } } }';
const SHOP = `query Shop { products(first: 8) { edges { node { id name price { amount currency } availableQuantity inStock } } } paymentMethods { id description } cart { ...CartView } } ${CART_VIEW}`;
const ADD_TO_CART = `mutation AddToCart($input: AddToCartInput!) { addToCart(input: $input) { cart { ...CartView } errors { code message } } } ${CART_VIEW}`;
const PLACE_ORDER = 'mutation PlaceOrder($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status statusHistory { version status reason at } } errors { code message field } } }';
const ORDER = 'query Order($id: ID!) { order(id: $id) { id status statusHistory { version status reason at } payment { status } shipment { trackingNumber } } }';
const ORDER_STATUS = 'subscription OrderStatus($orderId: ID!, $after: Int) { orderStatusChanged(orderId: $orderId, after: $after) { version status reason at order { status payment { status } shipment { trackingNumber } } } }';

/** Statuses after which nothing more happens to an order. */
const FINAL = new Set(['OUT_OF_STOCK', 'PAYMENT_FAILED', 'CANCELLED', 'DELIVERED']);
/** Statuses where checkout is over (the cart and stock have changed). */
const SETTLED = new Set([...FINAL, 'CONFIRMED']);

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
    if (SETTLED.has(change.status)) setTimeout(loadShop, 1_000); // the cart and stock follow the order
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
      if (FINAL.has(current.status)) return stop();
      // Once confirmed, only shipping is left to happen: no need to ask every second.
      timer = setTimeout(poll, current.status === 'CONFIRMED' || current.status === 'SHIPPED' ? 15_000 : 1_000);
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
  $('timeline').append(h('li', {}, h('strong', {}, change.status), ' ', h('time', { datetime: change.at }, new Date(change.at).toLocaleTimeString()), change.reason ? ` — ${change.reason}` : null));
  if (view) showDetail(view);
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
  $('place-order').disabled = !lines.length;
  checkoutKey = undefined; // a different cart is a different order
}

function renderProducts(products) {
  $('products').replaceChildren(...products.map((product) => h('tr', {},
    h('th', { scope: 'row' }, product.name),
    h('td', {}, money(product.price)),
    h('td', {}, product.inStock ? String(product.availableQuantity) : 'Sold out'),
    h('td', {}, h('button', { type: 'button', disabled: !product.inStock, 'aria-label': `Add ${product.name} to cart`, onclick: () => addToCart(product.id) }, 'Add to cart')),
  )));
}

function renderPaymentMethods(methods) {
  const container = $('payment-methods');
  const chosen = container.querySelector('input:checked')?.value ?? methods[0]?.id;
  container.replaceChildren(...methods.map((method) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'paymentMethod', value: method.id, checked: method.id === chosen, required: true }),
    ` ${method.description} `, h('code', {}, method.id))));
}

async function loadShop() {
  if (!session) return;
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
  showSignedIn(false);
  notice(message);
}

$('sign-in-form').addEventListener('submit', signIn);
$('checkout-form').addEventListener('submit', placeOrder);
$('sign-out').addEventListener('click', () => signOut());
