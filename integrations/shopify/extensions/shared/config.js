// Where the crosssell Django site answers the extensions: the https origin (and path prefix, if
// the site is mounted under one) that serves /shopify/extension/recommendations/, e.g.
// 'https://crosssell.example.com'. Set it before `shopify app deploy` (or `shopify app dev`, to
// your tunnel): both extensions are bundled with this value. Left empty, every block stays hidden
// and the checkout editor says that APP_URL is not set.
export const APP_URL = '';
