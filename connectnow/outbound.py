"""The one SSRF guard for every request the server makes to a URL a user gave (broadcast webhooks, calendar
subscriptions): which addresses count as public, resolving a host once and checking every address it gives,
and connecting to that very address (pinning) so a second DNS answer cannot lead elsewhere (rebinding).

`allow_private` exists for tests and LAN gateways (a setting per feature, off by default); nothing else
weakens the guard.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

LOCAL_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

# Prefixes that carry an IPv4 address inside IPv6: through a NAT64 gateway, a 6to4 relay or the deprecated
# IPv4-compatible form, they reach whatever IPv4 address they embed, so none of them counts as public.
_EMBEDDING_IPV4 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96"))


class AddressRefused(Exception):
    """The host is, or resolves to, an address outbound requests may not reach."""


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global unicast, and for IPv6 no form that embeds an IPv4 address (mapped, compatible, NAT64, 6to4,
    Teredo): those lead wherever their IPv4 part says, loopback included."""
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped or address.teredo or any(address in net for net in _EMBEDDING_IPV4)
    ):
        return False
    return address.is_global and not address.is_multicast


def host_is_private(url: str) -> bool:
    """A literal loopback, private, link-local or reserved address, or a local host name."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host or host in LOCAL_HOSTNAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return not address_is_public(address)


async def resolve_checked(url: str, *, allow_private: bool) -> str | None:
    """The one address a request to `url` must connect to, checked; None when the name does not resolve.

    Resolving once and connecting to that very address (see `pinned`) is what stops DNS rebinding: a second
    lookup by the HTTP client could answer a private address after this one answered a public one.
    """
    if not allow_private and host_is_private(url):
        raise AddressRefused(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").split("%")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        return None
    if not allow_private and not all(address_is_public(a) for a in addresses):
        raise AddressRefused(url)
    return str(addresses[0])


async def resolves_private(url: str) -> bool:
    """True when the host is private (literally) or any address it resolves to is not public. An unresolvable
    host is not refused here: the delivery will fail (and be retried) when it cannot connect."""
    try:
        await resolve_checked(url, allow_private=False)
    except AddressRefused:
        return True
    return False


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """`url` rewritten to connect to `address`, with the Host header and TLS server name (SNI, and the
    certificate check) still those of the original host."""
    original = httpx.URL(url)
    # The ASCII (IDNA) form: what TLS sends as the server name and checks the certificate against.
    extensions = {"sni_hostname": original.raw_host.decode("ascii")} if original.scheme == "https" else {}
    # Connection: close: the client's pool is keyed by the address, so a kept-alive TLS connection made (and
    # certificate-checked) for one host name would otherwise carry the next request for another name there.
    headers = {"Host": original.netloc.decode("ascii"), "Connection": "close"}
    return str(original.copy_with(host=address)), headers, extensions
