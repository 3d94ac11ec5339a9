"""Public signals. Receivers should take ``**kwargs`` and stay fast (enqueue slow work).

All purchase signals are sent after the recording transaction has committed, so receivers
see the stored rows, and a receiver that raises is logged without undoing the purchase.
"""

from django.dispatch import Signal

#: A purchase was recorded for the first time.
#: kwargs: ``order`` (crosssell Order), ``event`` (the PurchaseEvent). Sent once per order, even
#: when the platform delivers the same order several times or concurrently.
purchase_recorded = Signal()

#: A later delivery changed the lines of an already recorded order.
#: kwargs: ``order``, ``event``, ``previous_lines`` (list of (item external id, quantity, unit price)).
purchase_updated = Signal()

#: A refund was recorded for the first time. kwargs: ``refund``, ``order``, ``event``.
refund_recorded = Signal()

#: A customer withdrew marketing consent on a channel (an SMS STOP, an unsubscribe link, the
#: admin). kwargs: ``customer``, ``channel`` (email | sms | in_app, or "all"), ``source``.
#: Pending follow-ups on that channel are cancelled by the plugin's own receiver.
consent_withdrawn = Signal()

#: A page asked for the block of a platform's order that is not recorded yet (its recording task
#: has not run: the thank-you page can be faster than the worker). kwargs: ``store`` (the Store
#: the order belongs to), ``platform_order`` (the platform's order object, e.g. a django-oscar
#: Order). A platform's integration may record it now; the block is then computed in the request.
#: Sent with ``send_robust``: a receiver that raises is logged, and the page shows no block.
order_not_recorded = Signal()
