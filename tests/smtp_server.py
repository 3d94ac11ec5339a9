"""A real SMTP server for the tests: aiosmtpd on a thread, listening on 127.0.0.1 (a free port).

It accepts every message (``250`` after ``DATA``) and records it, then answers ``QUIT`` as each
test wants: ``221`` (a well-behaved server), ``421`` (closing with an error), dropping the
connection without a word, or holding ``QUIT`` unanswered (until :meth:`SmtpServer.release`, the
client's timeout or the client's death). A test waits for the moments that matter with
:attr:`SmtpServer.accepted_event` and :attr:`SmtpServer.holding`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

#: how QUIT is answered
BYE, REFUSE, DROP, HOLD = "221", "421", "drop", "hold"
#: the longest a held QUIT waits for :meth:`SmtpServer.release`
HOLD_LIMIT = 120.0


@dataclass(frozen=True)
class Accepted:
    """A message the server answered 250 to."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return "".join(str(self.message["Message-ID"]).split())


class SmtpServer:
    """The handler (aiosmtpd's ``handle_DATA``) and what the server saw.

    ``quit_modes``: how each QUIT is answered, in turn; once used up, QUIT gets ``221``.
    ``data_replies``: the answers to the first messages' DATA (a 4xx or 5xx refuses the message);
    once used up, ``250``."""

    def __init__(self, quit_modes: list[str] | None = None, data_replies: list[str] | None = None) -> None:
        self.quit_modes = list(quit_modes or [])
        self.data_replies = list(data_replies or [])
        self.refused: list[str] = []
        self.accepted: list[Accepted] = []
        self.quits: list[str] = []
        self.accepted_event = threading.Event()
        self.holding = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            if self.data_replies:
                reply = self.data_replies.pop(0)
                self.refused.append(reply)
                return reply
            self.accepted.append(Accepted(envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        self.accepted_event.set()
        return "250 2.0.0 Message accepted for delivery"

    def next_quit(self) -> str:
        with self._lock:
            mode = self.quit_modes.pop(0) if self.quit_modes else BYE
            self.quits.append(mode)
            return mode

    def release(self) -> None:
        """Let a held QUIT end (the connection is then closed without an answer)."""
        self._release.set()

    async def hold(self, smtp: SMTP) -> None:
        """Hold a QUIT: nothing is answered until :meth:`release` (or the client goes away, which
        cancels this coroutine)."""
        self.holding.set()
        deadline = time.monotonic() + HOLD_LIMIT
        while not self._release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def message_ids(self) -> list[str]:
        with self._lock:
            return [a.message_id for a in self.accepted]


class _MisbehavingSmtp(SMTP):
    """aiosmtpd's SMTP, with QUIT answered as the handler says."""

    async def smtp_QUIT(self, arg: str) -> None:
        recorder: SmtpServer = self.event_handler
        mode = recorder.next_quit()
        if mode == BYE or arg:
            await super().smtp_QUIT(arg)
            return
        if mode == REFUSE:
            await self.push("421 4.3.2 Service shutting down, closing transmission channel")
        elif mode == HOLD:
            await recorder.hold(self)
        transport = self.transport
        if transport is not None:
            transport.abort() if mode == DROP else transport.close()


class _Controller(Controller):
    """aiosmtpd's threaded controller on a port the system picks."""

    def factory(self) -> SMTP:
        return _MisbehavingSmtp(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        self.handler.port = self.port
        super()._trigger_server()


@contextmanager
def smtp_server(quit_modes: list[str] | None = None, data_replies: list[str] | None = None) -> Iterator[SmtpServer]:
    """A running server on 127.0.0.1 (``.port``), stopped afterwards."""
    recorder = SmtpServer(quit_modes, data_replies)
    controller = _Controller(recorder, hostname="127.0.0.1", port=0, ready_timeout=30)
    controller.start()
    try:
        yield recorder
    finally:
        recorder.release()
        controller.stop()
