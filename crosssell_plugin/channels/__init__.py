"""Follow-up channels: email, SMS and in-app, each one small class behind one interface.

A channel *builds* the message of a planned follow-up (its address, subject, HTML and text, with
the recommendations re-ranked at send time) and *sends* it through its backend::

    channel = get_channel("email")
    outgoing = channel.build(scheduled_message, recommendations)  # -> Outgoing
    result = channel.send(outgoing)                               # -> SendResult, or raises
                                                                  #    TransientSendError / PermanentSendError

``build`` raises :class:`~crosssell_plugin.channels.base.PermanentSendError` when the customer
has no usable address on the channel (no phone number, an invalid one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from django.utils.module_loading import import_string

from .base import ChannelBackend, Outgoing, PermanentSendError, SendResult, TransientSendError

if TYPE_CHECKING:
    from ..models import ScheduledMessage
    from ..recommend import Recommendation

__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelBackend",
    "Outgoing",
    "PermanentSendError",
    "SendResult",
    "TransientSendError",
    "get_channel",
]


class Channel(Protocol):
    #: email | sms | in_app
    name: str

    def build(self, message: ScheduledMessage, recommendations: list[Recommendation]) -> Outgoing: ...

    def send(self, outgoing: Outgoing) -> SendResult: ...


#: channel name -> the class that implements it
CHANNELS = {
    "email": "crosssell_plugin.channels.email.EmailChannel",
    "sms": "crosssell_plugin.channels.sms.SmsChannel",
    "in_app": "crosssell_plugin.channels.in_app.InAppChannel",
}


def get_channel(name: str) -> Channel:
    """The channel called ``name`` (email, sms or in_app); ValueError for any other name."""
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}; the channels are {sorted(CHANNELS)}")
    return import_string(CHANNELS[name])()
