// The extensions' side of contract.schema.json: the request they send to
// {APP_URL}/shopify/extension/recommendations/ and the checks an answer passes before anything
// is shown. Plain JavaScript with no imports, so both extensions bundle it and Node's test runner
// runs it as it is (contract.test.mjs).

export const ENDPOINT_PATH = '/shopify/extension/recommendations/';
export const SURFACES = ['thank_you', 'order_status'];

// The fields of an answer, as the schema names them (a test compares these lists with the schema
// and with the fields the extensions' JSX reads).
export const RESPONSE_FIELDS = ['order_id', 'surface', 'heading', 'items', 'impressions_logged'];
export const ITEM_FIELDS = ['id', 'title', 'url', 'image_url', 'price', 'reason', 'offer', 'click_url'];
export const PRICE_FIELDS = ['amount', 'currency'];
export const OFFER_FIELDS = ['code', 'description', 'expires_at'];

// How long a block waits for its answer, the session token included, before it gives up.
export const TIMEOUT_MS = 8000;

const ORDER_GID = /^gid:\/\/shopify\/(Order|OrderIdentity)\/([1-9][0-9]{0,19})$/;
const LOCALE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const AMOUNT = /^(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$/;
const CURRENCY = /^[A-Z]{3}$/;
const UTC_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$/;
const CODE = /^\S(.*\S)?$/;

/** A request or an answer that breaks the contract; `path` names the field ("items[0].price"). */
export class ContractError extends Error {
  constructor(path, problem) {
    super(path ? `${path} ${problem}` : problem);
    this.name = 'ContractError';
    this.path = path;
  }
}

/**
 * The order's Admin API id, gid://shopify/Order/<id>, from what a page gives: the Order-status
 * page gives that already; the Thank-you page gives gid://shopify/OrderIdentity/<id> (same
 * number), sometimes base64-encoded.
 */
export function orderGid(raw) {
  const text = typeof raw === 'string' ? raw.trim() : '';
  const match = ORDER_GID.exec(text) ?? ORDER_GID.exec(fromBase64(text));
  if (!match) throw new ContractError('order_id', `is not a Shopify order id: ${JSON.stringify(raw)}`);
  return `gid://shopify/Order/${match[2]}`;
}

function fromBase64(text) {
  if (!text || !/^[A-Za-z0-9+/=]+$/.test(text)) return '';
  try {
    return atob(text).trim();
  } catch {
    return '';
  }
}

/**
 * The request for one order: {url, method, headers, body}. GET puts the parameters in the query
 * string (the GID percent-encoded); POST sends them as a JSON body instead.
 */
export function buildRequest({appUrl, orderId, surface, locale, token, method = 'GET'}) {
  const base = appBase(appUrl);
  const params = {order_id: orderGid(orderId), surface: checkSurface(surface), locale: checkLocale(locale)};
  if (typeof token !== 'string' || !JWT.test(token)) {
    throw new ContractError('token', 'is not a session token (three base64url parts)');
  }
  const headers = {Authorization: `Bearer ${token}`, Accept: 'application/json'};
  if (method === 'GET') {
    return {url: `${base}${ENDPOINT_PATH}?${new URLSearchParams(params)}`, method, headers, body: undefined};
  }
  if (method === 'POST') {
    headers['Content-Type'] = 'application/json';
    return {url: `${base}${ENDPOINT_PATH}`, method, headers, body: JSON.stringify(params)};
  }
  throw new ContractError('method', `must be GET or POST, not ${JSON.stringify(method)}`);
}

function appBase(appUrl) {
  if (typeof appUrl !== 'string' || appUrl.trim() === '') {
    throw new ContractError('APP_URL', 'is not set (integrations/shopify/extensions/shared/config.js)');
  }
  let parsed;
  try {
    parsed = new URL(appUrl.trim());
  } catch {
    throw new ContractError('APP_URL', `is not a URL: ${JSON.stringify(appUrl)}`);
  }
  if (parsed.protocol !== 'https:') throw new ContractError('APP_URL', `must be https: ${JSON.stringify(appUrl)}`);
  if (parsed.search || parsed.hash) throw new ContractError('APP_URL', 'must have no query or fragment');
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

function checkSurface(surface) {
  if (!SURFACES.includes(surface)) {
    throw new ContractError('surface', `must be one of ${SURFACES.join(', ')}, not ${JSON.stringify(surface)}`);
  }
  return surface;
}

function checkLocale(locale) {
  if (typeof locale !== 'string' || locale.length > 35 || !LOCALE.test(locale)) {
    throw new ContractError('locale', `is not a language tag: ${JSON.stringify(locale)}`);
  }
  return locale;
}

/**
 * A 200 answer checked against the contract, for the order and surface asked about. Returns a new
 * object with exactly the contract's fields (unknown ones are dropped, so a newer server breaks
 * nothing); an offer that expired before `now` becomes null. Throws ContractError naming the
 * first field that is wrong.
 */
export function parseResponse(body, {orderId, surface}, now = new Date()) {
  const root = object(body, '');
  const answer = {
    order_id: string(root.order_id, 'order_id'),
    surface: string(root.surface, 'surface'),
    heading: root.heading === null ? null : string(root.heading, 'heading'),
    items: array(root.items, 'items').map((item, i) => parseItem(item, `items[${i}]`, now)),
    impressions_logged: root.impressions_logged,
  };
  if (answer.order_id !== orderGid(orderId)) {
    throw new ContractError('order_id', `is ${JSON.stringify(answer.order_id)}, not the order asked about`);
  }
  if (answer.surface !== surface) {
    throw new ContractError('surface', `is ${JSON.stringify(answer.surface)}, not ${JSON.stringify(surface)}`);
  }
  if (answer.impressions_logged !== true) throw new ContractError('impressions_logged', 'must be true');
  const ids = new Set(answer.items.map((item) => item.id));
  if (ids.size !== answer.items.length) throw new ContractError('items', 'name one item twice');
  return answer;
}

function parseItem(value, path, now) {
  const item = object(value, path);
  return {
    id: string(item.id, `${path}.id`),
    title: string(item.title, `${path}.title`),
    url: httpsUrl(item.url, `${path}.url`),
    image_url: item.image_url === null ? null : httpsUrl(item.image_url, `${path}.image_url`),
    price: parsePrice(item.price, `${path}.price`),
    reason: string(item.reason, `${path}.reason`),
    offer: item.offer === null ? null : parseOffer(item.offer, `${path}.offer`, now),
    click_url: httpsUrl(item.click_url, `${path}.click_url`),
  };
}

function parsePrice(value, path) {
  const price = object(value, path);
  if (typeof price.amount !== 'string' || !AMOUNT.test(price.amount)) {
    throw new ContractError(`${path}.amount`, `must be a decimal string such as "12.00", not ${JSON.stringify(price.amount)}`);
  }
  if (typeof price.currency !== 'string' || !CURRENCY.test(price.currency)) {
    throw new ContractError(`${path}.currency`, `must be an ISO 4217 code such as "EUR", not ${JSON.stringify(price.currency)}`);
  }
  return {amount: price.amount, currency: price.currency};
}

function parseOffer(value, path, now) {
  const offer = object(value, path);
  const code = string(offer.code, `${path}.code`);
  if (code.length > 100 || !CODE.test(code)) throw new ContractError(`${path}.code`, 'is not a discount code');
  const expires = offer.expires_at;
  if (typeof expires !== 'string' || !UTC_TIME.test(expires) || Number.isNaN(Date.parse(expires))) {
    throw new ContractError(`${path}.expires_at`, `must be an ISO 8601 UTC time such as "2026-12-31T23:59:59Z", not ${JSON.stringify(expires)}`);
  }
  if (Date.parse(expires) <= now.getTime()) return null;
  return {code, description: string(offer.description, `${path}.description`), expires_at: expires};
}

function object(value, path) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ContractError(path, 'must be an object');
  }
  return value;
}

function array(value, path) {
  if (!Array.isArray(value)) throw new ContractError(path, 'must be a list');
  return value;
}

function string(value, path) {
  if (typeof value !== 'string' || value.trim() === '') throw new ContractError(path, 'must be a non-empty string');
  return value;
}

function httpsUrl(value, path) {
  const text = string(value, path);
  if (!text.startsWith('https://') || /\s/.test(text) || !parses(text)) {
    throw new ContractError(path, `must be an https URL: ${JSON.stringify(text)}`);
  }
  return text;
}

function parses(url) {
  try {
    return Boolean(new URL(url));
  } catch {
    return false;
  }
}

/** The `detail` of an error answer, or a description of the status when there is none. */
export function errorDetail(status, body) {
  if (body && typeof body === 'object' && typeof body.detail === 'string' && body.detail.trim()) {
    return `${status}: ${body.detail}`;
  }
  return `${status}: the endpoint answered without a detail`;
}

/**
 * Everything one block does before rendering, as a state: {state: "ready", answer} with items,
 * {state: "empty", answer} without, or {state: "error", detail}. Never throws: a block must never
 * break the page it is on. Gives up after `timeoutMs`, the session token included.
 *
 * `getToken` is the extension's sessionToken.get; `fetch` the global fetch (a test passes its own).
 */
export async function loadRecommendations({timeoutMs = TIMEOUT_MS, ...options}) {
  const controller = new AbortController();
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({state: 'error', detail: `no answer within ${timeoutMs} ms`});
    }, timeoutMs);
  });
  try {
    return await Promise.race([load(options, controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function load({appUrl, orderId, surface, locale, getToken, fetch, now}, signal) {
  try {
    const request = buildRequest({appUrl, orderId, surface, locale, token: await getToken()});
    const response = await fetch(request.url, {method: request.method, headers: request.headers, body: request.body, signal});
    const body = await response.json().catch(() => null);
    if (!response.ok) return {state: 'error', detail: errorDetail(response.status, body)};
    if (body === null) return {state: 'error', detail: `${response.status}: the answer is not JSON`};
    const answer = parseResponse(body, {orderId, surface}, now ?? new Date());
    return {state: answer.items.length ? 'ready' : 'empty', answer};
  } catch (error) {
    return {state: 'error', detail: error instanceof Error ? error.message : String(error)};
  }
}
