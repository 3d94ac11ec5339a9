// The Order-status page block (customer-account.order-status.block.render): recommendations for
// the order the buyer is looking at, from the crosssell endpoint (see ../../contract.schema.json);
// rendered by ../../shared/Block.jsx. It renders on the pre-authenticated page too (a buyer who
// came from the order email without logging in); a session token that names no customer gets no
// offer codes from the endpoint.
import '@shopify/ui-extensions/preact';

import {block} from '../../shared/Block.jsx';

// the order is undefined until Shopify has processed it; the block appears when it has
export default block(
  'order_status',
  () => shopify.order,
  (order) => order?.id,
);
