"""Follow-up paths: planning after a purchase, the guards, and the outbox dispatcher.

* :mod:`.planning` turns a recorded purchase into ScheduledMessage rows (``purchase_recorded``);
* :mod:`.timing` keeps due times out of the customer's quiet hours;
* :mod:`.guards` says whether a claimed message may go out now, and cancels pending ones on a
  refund, a conversion or a withdrawn consent;
* :mod:`.auto` picks the channel of an ``auto`` step;
* :mod:`.dispatch` claims due rows under a lease and sends them exactly once
  (``crosssell.dispatch_followups`` task, ``crosssell_dispatch`` command);
* :mod:`.defaults` installs the disabled default path in a new store.
"""
