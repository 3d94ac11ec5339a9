// What both blocks render (the Thank-you and the Order-status page): recommendations for one
// order from the crosssell endpoint (see ../contract.schema.json). Each block only says which
// surface it is and where its order id comes from.
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {APP_URL} from './config.js';
import {loadRecommendations} from './contract.js';

/**
 * The extension's entry point: renders the block for `surface`, with the order id that
 * `orderIdOf(value)` reads from Shopify's `signal()` (undefined while there is none yet).
 */
export function block(surface, signal, orderIdOf) {
  return async () => {
    render(<Block surface={surface} signal={signal()} orderIdOf={orderIdOf} />, document.body);
  };
}

function Block({surface, signal, orderIdOf}) {
  const orderId = orderIdOf(useSignal(signal));
  const locale = useSignal(shopify.localization.language)?.isoCode ?? 'en';
  const result = useRecommendations(surface, orderId, locale);
  if (!orderId) return null;
  return <Recommendations result={result} />;
}

/** The current value of one of Shopify's signals, re-rendering when it changes. */
function useSignal(signal) {
  const [value, setValue] = useState(signal.value);
  useEffect(() => signal.subscribe(setValue), [signal]);
  return value;
}

function useRecommendations(surface, orderId, locale) {
  const [result, setResult] = useState({state: 'loading'});
  useEffect(() => {
    if (!orderId) return undefined;
    let current = true;
    setResult({state: 'loading'});
    loadRecommendations({
      appUrl: APP_URL,
      orderId,
      surface,
      locale,
      getToken: () => shopify.sessionToken.get(),
      fetch: (url, init) => fetch(url, init),
    }).then((next) => {
      if (next.state === 'error') console.warn(`crosssell recommendations: ${next.detail}`);
      if (current) setResult(next);
    });
    return () => {
      current = false;
    };
  }, [surface, orderId, locale]);
  return result;
}

function t(key, values) {
  return shopify.i18n.translate(key, values);
}

function Recommendations({result}) {
  const inEditor = Boolean(shopify.extension.editor);
  if (result.state === 'loading') return <Loading />;
  if (result.state === 'error') {
    // the buyer sees nothing; the merchant placing the block sees why
    return inEditor ? <s-banner tone="warning" heading={t('editorError')}>{result.detail}</s-banner> : null;
  }
  if (result.state === 'empty') return inEditor ? <s-banner tone="info">{t('editorEmpty')}</s-banner> : null;
  const recommendations = result.answer;
  return (
    <s-section heading={recommendations.heading ?? t('heading')}>
      <s-stack gap="base">
        {recommendations.items.map((item) => (
          <Item key={item.id} item={item} />
        ))}
      </s-stack>
    </s-section>
  );
}

function Loading() {
  return (
    <s-section heading={t('heading')}>
      <s-stack gap="base">
        <s-skeleton-paragraph />
        <s-skeleton-paragraph />
        <s-skeleton-paragraph />
      </s-stack>
    </s-section>
  );
}

function Item({item}) {
  const price = shopify.i18n.formatCurrency(Number(item.price.amount), {currency: item.price.currency});
  const offer = item.offer;
  return (
    <s-grid gridTemplateColumns="auto 1fr" gap="base" alignItems="start">
      <s-product-thumbnail src={item.image_url ?? undefined} alt={item.title} />
      <s-stack gap="small-200">
        <s-link href={item.click_url} target="_blank">
          {item.title}
        </s-link>
        <s-text type="strong">{price}</s-text>
        <s-text color="subdued">{item.reason}</s-text>
        {offer ? (
          <s-text tone="success">
            {t('offer', {
              description: offer.description,
              code: <s-text type="strong">{offer.code}</s-text>,
              date: shopify.i18n.formatDate(new Date(offer.expires_at), {dateStyle: 'medium'}),
            })}
          </s-text>
        ) : null}
      </s-stack>
    </s-grid>
  );
}
