"""A broker URL, parsed once, whose password never appears in reprs, logs or errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, final
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from twisted.internet.interfaces import IStreamClientEndpoint

__all__ = ["BrokerAddress"]

_SCHEMES: Final = {"amqp": 5672, "amqps": 5671}


def redact(url: str) -> str:
    """Return *url* with its password, if any, replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return SplitResult(parts.scheme, netloc, parts.path, parts.query, "").geturl()
    except ValueError:
        return "<unparseable broker URL>"


@final
class BrokerAddress:
    """Where the broker is and how to log in, from an ``amqp://`` or ``amqps://`` URL.

    Args:
        url: ``amqp[s]://user:password@host[:port][/vhost][?heartbeat=...]``,
            as :class:`pika.URLParameters` reads it.
        tls_options: For ``amqps://``: the client TLS options
            (:func:`twisted.internet.ssl.optionsForClientTLS`), None to verify
            the broker's certificate against the system's trust roots for its
            host name.

    Raises:
        ValueError: *url* is not an AMQP URL (the message shows it with its
            password replaced by ``***``).
    """

    def __init__(self, url: str, tls_options: Any = None) -> None:
        if not isinstance(url, str):
            raise TypeError(f"broker_url must be a str; got {type(url).__name__}")
        self.redacted: Final = redact(url)
        """The URL with its password replaced by ``***``: safe to log."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise ValueError(f"broker_url {self.redacted!r} is not a URL: {error}") from None
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ValueError(
                f"broker_url must look like amqp://user:password@host:5672/vhost or "
                f"amqps://...; got {self.redacted!r}"
            )
        import pika

        try:
            self.parameters: Final[Any] = pika.URLParameters(url)
        except Exception as error:  # noqa: BLE001 -- pika raises many kinds; none may leak the URL
            raise ValueError(
                f"broker_url {self.redacted!r} has an option pika refuses: {type(error).__name__}"
            ) from None
        self.host: Final = parts.hostname
        self.port: Final = port if port is not None else _SCHEMES[parts.scheme]
        self.tls: Final = parts.scheme == "amqps"
        self._tls_options = tls_options

    def __repr__(self) -> str:
        return f"<BrokerAddress {self.redacted}>"

    def endpoint(self, reactor: Any) -> IStreamClientEndpoint:
        """Return the endpoint that connects to the broker (through TLS for ``amqps``)."""
        from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

        plain = HostnameEndpoint(reactor, self.host, self.port)
        if not self.tls:
            return plain
        options = self._tls_options
        if options is None:
            from twisted.internet.ssl import optionsForClientTLS

            options = optionsForClientTLS(self.host)
        return wrapClientTLS(options, plain)
