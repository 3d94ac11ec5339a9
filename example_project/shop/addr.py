"""The demo's address: what ``runserver`` listens on (``CROSSSELL_DEMO_ADDR``, as scripts/demo.sh
passes it) and the URL every link of the demo uses, in pages, emails and SMS alike."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_ADDR = "127.0.0.1:8000"
#: hosts a server listens on but a browser cannot be sent to: links use the machine itself
_ANY_HOST = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "0": "127.0.0.1"}  # noqa: S104


def split_addr(addr: str) -> tuple[str, str]:
    """``runserver``'s ``[host:]port`` (``8080``, ``0.0.0.0:8080``, ``[::1]:8080``) as (host, port)."""
    addr = (addr or DEFAULT_ADDR).strip()
    if addr.isdigit():
        return "127.0.0.1", addr
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f'CROSSSELL_DEMO_ADDR must be "port" or "host:port" such as 127.0.0.1:8080, got {addr!r}')
    return host, port


def demo_url(addr: str, public_url: str = "") -> str:
    """The base URL of the demo's links (no trailing slash): ``public_url`` when given (the
    address shoppers reach the demo at, through a tunnel say), else ``http://host:port`` of
    ``addr``, the machine itself for a server listening on every interface."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"CROSSSELL_DEMO_URL must be an http(s) URL such as http://192.0.2.10:8000, not {public_url!r}"
            )
        return public_url.rstrip("/")
    host, port = split_addr(addr)
    host = _ANY_HOST.get(host.strip("[]") if host.startswith("[") else host, host)
    return f"http://{host}:{port}"


def allowed_hosts(addr: str, url: str) -> list[str]:
    """ALLOWED_HOSTS of the demo: the local names, the links' host and, for a server listening on
    every interface, any host (it is reached by names and addresses the demo cannot know)."""
    host, _port = split_addr(addr)
    if host.strip("[]") in _ANY_HOST:
        return ["*"]
    names = ["127.0.0.1", "localhost", "testserver", host.strip("[]"), urlsplit(url).hostname or ""]
    return list(dict.fromkeys(n for n in names if n))
