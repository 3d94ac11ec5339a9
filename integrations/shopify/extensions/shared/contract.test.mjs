// node --test integrations/shopify/extensions/shared/ (Node 20+; no packages needed)
import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {describe, test} from 'node:test';

import {APP_URL} from './config.js';
import {
  ContractError,
  ENDPOINT_PATH,
  ITEM_FIELDS,
  OFFER_FIELDS,
  PRICE_FIELDS,
  RESPONSE_FIELDS,
  buildRequest,
  errorDetail,
  loadRecommendations,
  orderGid,
  parseResponse,
} from './contract.js';

const EXAMPLES = new URL('../examples/', import.meta.url);
const BEFORE_EXPIRY = new Date('2026-12-01T00:00:00Z');
const AFTER_EXPIRY = new Date('2026-12-11T00:00:00Z');
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJkZXN0IjoiaHR0cHM6Ly94Lm15c2hvcGlmeS5jb20ifQ.c2lnbmF0dXJl';

function example(name) {
  return JSON.parse(readFileSync(new URL(name, EXAMPLES), 'utf8'));
}

function asked(body) {
  return {orderId: body.order_id, surface: body.surface};
}

/** parseResponse of `body` must fail on `path`. */
function rejects(body, path) {
  assert.throws(
    () => parseResponse(body, asked(example('order-with-offer.json')), BEFORE_EXPIRY),
    (error) => error instanceof ContractError && error.path === path,
    `expected a ContractError on ${path}`,
  );
}

function withItem(change) {
  const body = example('order-with-offer.json');
  change(body.items[0]);
  return body;
}

describe('the example answers', () => {
  const names = readdirSync(EXAMPLES).filter((name) => name.endsWith('.json')).sort();

  test('there are the three of the README', () => {
    assert.deepEqual(names, ['customer-less-session.json', 'empty.json', 'order-with-offer.json']);
  });

  for (const name of names) {
    test(`${name} parses to exactly what it says`, () => {
      const body = example(name);
      const answer = parseResponse(body, asked(body), BEFORE_EXPIRY);
      assert.deepEqual(answer, body);
      assert.deepEqual(Object.keys(answer), RESPONSE_FIELDS);
      for (const item of answer.items) {
        assert.deepEqual(Object.keys(item), ITEM_FIELDS);
        assert.deepEqual(Object.keys(item.price), PRICE_FIELDS);
        if (item.offer) assert.deepEqual(Object.keys(item.offer), OFFER_FIELDS);
      }
    });
  }

  test('the customer-less session carries no offer code', () => {
    const body = example('customer-less-session.json');
    assert.ok(body.items.length > 0);
    assert.ok(body.items.every((item) => item.offer === null));
  });

  test('an offer past its expiry is dropped, the item kept', () => {
    const body = example('order-with-offer.json');
    const answer = parseResponse(body, asked(body), AFTER_EXPIRY);
    assert.equal(answer.items.length, body.items.length);
    assert.equal(answer.items[0].offer, null);
    assert.equal(answer.items[0].title, body.items[0].title);
  });

  test('fields the contract does not name are dropped', () => {
    const body = example('order-with-offer.json');
    body.model_version = 7;
    body.items[0].score = 0.93;
    body.items[0].price.formatted = '€12.00';
    const answer = parseResponse(body, asked(body), BEFORE_EXPIRY);
    assert.equal('model_version' in answer, false);
    assert.equal('score' in answer.items[0], false);
    assert.deepEqual(answer.items[0].price, {amount: '12.00', currency: 'EUR'});
  });
});

describe('malformed answers are refused, naming the field', () => {
  test('not an object', () => {
    for (const body of [null, [], 'items', 42]) rejects(body, '');
  });

  for (const field of RESPONSE_FIELDS.filter((f) => f !== 'heading')) {
    test(`without ${field}`, () => {
      const body = example('order-with-offer.json');
      delete body[field];
      rejects(body, field);
    });
  }

  for (const field of ITEM_FIELDS) {
    test(`an item without ${field}`, () => {
      rejects(
        withItem((item) => delete item[field]),
        `items[0].${field}`,
      );
    });
  }

  test('an offer without code, description or expires_at', () => {
    for (const field of OFFER_FIELDS) {
      rejects(
        withItem((item) => delete item.offer[field]),
        `items[0].offer.${field}`,
      );
    }
  });

  test('a blank heading, title or reason', () => {
    const body = example('order-with-offer.json');
    body.heading = '  ';
    rejects(body, 'heading');
    rejects(
      withItem((item) => (item.title = '')),
      'items[0].title',
    );
    rejects(
      withItem((item) => (item.reason = ' ')),
      'items[0].reason',
    );
  });

  for (const field of ['url', 'image_url', 'click_url']) {
    test(`${field} that is not https`, () => {
      for (const bad of [
        'http://shop.example.com/products/poster',
        'javascript:alert(1)',
        '/crosssell/r/abc/',
        'HTTPS://shop.example.com/x',
        'https://',
        'https://shop.example.com/a b',
        42,
      ]) {
        rejects(
          withItem((item) => (item[field] = bad)),
          `items[0].${field}`,
        );
      }
    });
  }

  test('amounts that are not decimal strings', () => {
    for (const bad of [12, 12.0, '12,00', '1e3', '-1.00', '.5', '12.', '012.00', '1.23456', '', null]) {
      rejects(
        withItem((item) => (item.price.amount = bad)),
        'items[0].price.amount',
      );
    }
  });

  test('currencies that are not ISO 4217 codes', () => {
    for (const bad of ['eur', '€', 'EURO', '', null]) {
      rejects(
        withItem((item) => (item.price.currency = bad)),
        'items[0].price.currency',
      );
    }
  });

  test('expiry times that are not UTC ISO 8601', () => {
    for (const bad of ['2026-12-10T23:59:59', '2026-12-10T23:59:59+01:00', '2026-12-10', '2026-13-01T00:00:00Z', 1765411199]) {
      rejects(
        withItem((item) => (item.offer.expires_at = bad)),
        'items[0].offer.expires_at',
      );
    }
  });

  test('an answer about another order or surface', () => {
    const body = example('order-with-offer.json');
    assert.throws(() => parseResponse(body, {orderId: 'gid://shopify/Order/1', surface: 'thank_you'}, BEFORE_EXPIRY), {
      name: 'ContractError',
      path: 'order_id',
    });
    assert.throws(() => parseResponse(body, {orderId: body.order_id, surface: 'order_status'}, BEFORE_EXPIRY), {
      name: 'ContractError',
      path: 'surface',
    });
  });

  test('impressions_logged other than true', () => {
    for (const bad of [false, 'true', 1]) {
      const body = example('order-with-offer.json');
      body.impressions_logged = bad;
      rejects(body, 'impressions_logged');
    }
  });

  test('one item twice', () => {
    const body = example('order-with-offer.json');
    body.items[1].id = body.items[0].id;
    rejects(body, 'items');
  });
});

describe('the request', () => {
  const base = {
    appUrl: 'https://crosssell.example.com',
    orderId: 'gid://shopify/Order/5829175681234',
    surface: 'thank_you',
    locale: 'fr-CA',
    token: TOKEN,
  };

  test('GET: the GID percent-encoded in the query, the token as a Bearer header', () => {
    const request = buildRequest(base);
    assert.equal(request.method, 'GET');
    assert.equal(
      request.url,
      'https://crosssell.example.com/shopify/extension/recommendations/' +
        '?order_id=gid%3A%2F%2Fshopify%2FOrder%2F5829175681234&surface=thank_you&locale=fr-CA',
    );
    assert.deepEqual(request.headers, {Authorization: `Bearer ${TOKEN}`, Accept: 'application/json'});
    assert.equal(request.body, undefined);
    const query = new URL(request.url).searchParams;
    assert.equal(query.get('order_id'), 'gid://shopify/Order/5829175681234');
  });

  test('POST: the same parameters as a JSON body', () => {
    const request = buildRequest({...base, method: 'POST'});
    assert.equal(request.url, `https://crosssell.example.com${ENDPOINT_PATH}`);
    assert.equal(request.headers['Content-Type'], 'application/json');
    assert.equal(request.headers.Authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(JSON.parse(request.body), {
      order_id: 'gid://shopify/Order/5829175681234',
      surface: 'thank_you',
      locale: 'fr-CA',
    });
  });

  test("the Thank-you page's OrderIdentity GID becomes the Order GID", () => {
    const identity = 'gid://shopify/OrderIdentity/5829175681234';
    assert.equal(orderGid(identity), 'gid://shopify/Order/5829175681234');
    assert.equal(orderGid(Buffer.from(identity).toString('base64')), 'gid://shopify/Order/5829175681234');
    const query = new URL(buildRequest({...base, orderId: identity}).url).searchParams;
    assert.equal(query.get('order_id'), 'gid://shopify/Order/5829175681234');
  });

  test('APP_URL may end with a slash or carry a path prefix', () => {
    assert.ok(buildRequest({...base, appUrl: 'https://crosssell.example.com/'}).url.startsWith(`https://crosssell.example.com${ENDPOINT_PATH}?`));
    assert.ok(buildRequest({...base, appUrl: 'https://example.com/apps/xs//'}).url.startsWith(`https://example.com/apps/xs${ENDPOINT_PATH}?`));
  });

  const refused = {
    appUrl: ['', 'http://crosssell.example.com', 'crosssell.example.com', 'https://x.example.com/?a=1', undefined],
    orderId: ['5829175681234', 'gid://shopify/Customer/1', 'gid://shopify/Order/', 'gid://shopify/Order/12x', null],
    surface: ['checkout', '', undefined],
    locale: ['', 'english!', 'x'.repeat(40), undefined],
    token: ['', 'not-a-jwt', 'a.b', 'Bearer a.b.c', undefined],
    method: ['PUT'],
  };
  for (const [field, values] of Object.entries(refused)) {
    test(`a bad ${field} is refused`, () => {
      for (const value of values) {
        assert.throws(() => buildRequest({...base, [field]: value}), ContractError, `${field} = ${JSON.stringify(value)}`);
      }
    });
  }

  test('the bundled APP_URL is unset or a usable https base', () => {
    if (APP_URL === '') {
      assert.throws(() => buildRequest({...base, appUrl: APP_URL}), /APP_URL is not set/);
    } else {
      assert.ok(buildRequest({...base, appUrl: APP_URL}).url.startsWith('https://'));
    }
  });
});

describe('loadRecommendations', () => {
  const body = example('order-with-offer.json');
  const options = {
    appUrl: 'https://crosssell.example.com',
    orderId: 'gid://shopify/OrderIdentity/5829175681234',
    surface: 'thank_you',
    locale: 'en',
    getToken: async () => TOKEN,
    now: BEFORE_EXPIRY,
  };

  function answering(status, json) {
    const calls = [];
    const fetch = async (url, init) => {
      calls.push({url, init});
      return {ok: status >= 200 && status < 300, status, json: async () => (json instanceof Error ? Promise.reject(json) : json)};
    };
    return {fetch, calls};
  }

  test('ready: the request sent and the answer parsed', async () => {
    const {fetch, calls} = answering(200, body);
    const result = await loadRecommendations({...options, fetch});
    assert.equal(result.state, 'ready');
    assert.deepEqual(result.answer, body);
    assert.equal(calls.length, 1);
    assert.equal(new URL(calls[0].url).searchParams.get('order_id'), body.order_id);
    assert.equal(calls[0].init.headers.Authorization, `Bearer ${TOKEN}`);
    assert.ok(calls[0].init.signal instanceof AbortSignal);
  });

  test('empty: no items', async () => {
    const {fetch} = answering(200, {...body, items: []});
    assert.equal((await loadRecommendations({...options, fetch})).state, 'empty');
  });

  test("error: the endpoint's detail", async () => {
    const {fetch} = answering(404, {detail: 'No order gid://shopify/Order/5829175681234 in this shop.'});
    assert.deepEqual(await loadRecommendations({...options, fetch}), {
      state: 'error',
      detail: '404: No order gid://shopify/Order/5829175681234 in this shop.',
    });
  });

  test('error: an answer that is not JSON, or breaks the contract', async () => {
    const notJson = await loadRecommendations({...options, fetch: answering(200, new SyntaxError('Unexpected token <')).fetch});
    assert.deepEqual(notJson, {state: 'error', detail: '200: the answer is not JSON'});
    const broken = structuredClone(body);
    broken.items[1].price.amount = 49.9;
    const result = await loadRecommendations({...options, fetch: answering(200, broken).fetch});
    assert.equal(result.state, 'error');
    assert.match(result.detail, /^items\[1\]\.price\.amount must be a decimal string/);
  });

  test('error: no token, or no network', async () => {
    const {fetch, calls} = answering(200, body);
    const noToken = await loadRecommendations({...options, fetch, getToken: async () => Promise.reject(new Error('token unavailable'))});
    assert.deepEqual(noToken, {state: 'error', detail: 'token unavailable'});
    assert.equal(calls.length, 0);
    const offline = await loadRecommendations({...options, fetch: async () => Promise.reject(new TypeError('Failed to fetch'))});
    assert.deepEqual(offline, {state: 'error', detail: 'Failed to fetch'});
  });

  test('error: APP_URL not set, without a request', async () => {
    const {fetch, calls} = answering(200, body);
    const result = await loadRecommendations({...options, appUrl: '', fetch});
    assert.equal(result.state, 'error');
    assert.match(result.detail, /APP_URL is not set/);
    assert.equal(calls.length, 0);
  });

  test('error: a request that never answers is given up and aborted', async () => {
    let signal;
    const fetch = (url, init) => {
      signal = init.signal;
      return new Promise(() => {});
    };
    const result = await loadRecommendations({...options, fetch, timeoutMs: 5});
    assert.deepEqual(result, {state: 'error', detail: 'no answer within 5 ms'});
    assert.equal(signal.aborted, true);
  });
});

test('errorDetail without a detail says so', () => {
  assert.equal(errorDetail(502, null), '502: the endpoint answered without a detail');
  assert.equal(errorDetail(429, {detail: 'Request was throttled.'}), '429: Request was throttled.');
});
