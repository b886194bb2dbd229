"""Why a server could not be connected to, in the few words a one-line error has room for."""

from __future__ import annotations

import errno
import os

import aiohttp


def why_unreachable(error: aiohttp.ClientConnectorError) -> str:
    """`discord.com: the name does not resolve`, `127.0.0.1:8000: connection refused`."""
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"{error.host}: the name does not resolve"
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        return f"the proxy {error.host}:{error.port} cannot be reached"
    where = f"{error.host}:{error.port}"
    number = error.os_error.errno
    if number == errno.ECONNREFUSED:
        return f"{where}: connection refused"
    if number:
        return f"{where}: {os.strerror(number).lower()}"
    return f"{where}: {error.os_error}"
