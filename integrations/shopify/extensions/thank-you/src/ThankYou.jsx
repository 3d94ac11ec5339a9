// The Thank-you page block (purchase.thank-you.block.render): recommendations for the order just
// placed, from the crosssell endpoint (see ../../contract.schema.json); rendered by
// ../../shared/Block.jsx.
import '@shopify/ui-extensions/preact';

import {block} from '../../shared/Block.jsx';

export default block(
  'thank_you',
  () => shopify.orderConfirmation,
  (confirmation) => confirmation?.order?.id,
);
