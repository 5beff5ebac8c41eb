"""Target URL normalisation and the SSRF-style safety check, steps 3-4 of the item checks in
docs/api-notes.md#collections-and-idempotency; a sync scrape runs the same check.

The sandbox never resolves names, so every refusal is decided from the text of the URL: IP literals
are classified with `ipaddress` (including the integer form `http://2130706433/`), host names by
suffix. `dns_failed` is simulated with the reserved `.invalid` TLD (RFC 2606), so a test can ask for
it without any network.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# `mailto:x`, `javascript:x`, `data:x`: a scheme without `//`. `host:8080` is not one (digit after ':').
_OPAQUE_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?![0-9])")
_HOSTNAME_OK = re.compile(r"^[A-Za-z0-9._\-~%]+$")
_METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data", "169.254.169.254"})
_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class UrlRefusal:
    reason: (
        str  # invalid_protocol | malformed_url | invalid_port | private_ip | blocked_hostname | dns_failed
    )
    message: str


def normalise(url: str) -> str:
    """Trim; no scheme → `https://` (vendor examples submit `www.example.com`)."""
    url = url.strip()
    if _SCHEME.match(url) or _OPAQUE_SCHEME.match(url):
        return url
    return "https://" + url


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        if host.isdigit():
            return ipaddress.IPv4Address(int(host))
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


def check(url: str) -> UrlRefusal | None:
    """Why a (normalised) URL may not be scraped, or None if it is a public http(s) URL."""
    if not _SCHEME.match(url):
        scheme = url.split(":", 1)[0].lower()
        return UrlRefusal("invalid_protocol", f"Scheme '{scheme}' is not allowed; use http:// or https://.")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return UrlRefusal("malformed_url", f"URL could not be parsed ({exc}).")
    if parts.scheme.lower() not in ("http", "https"):
        return UrlRefusal(
            "invalid_protocol", f"Scheme '{parts.scheme}' is not allowed; use http:// or https://."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host or not _HOSTNAME_OK.match(host.replace(":", "")):
        return UrlRefusal("malformed_url", "URL has no valid host name.")
    try:
        port = parts.port
    except ValueError:
        return UrlRefusal("invalid_port", "URL port is not a number between 1 and 65535.")
    if port == 0:
        return UrlRefusal("invalid_port", "URL port is not a number between 1 and 65535.")
    ip = _ip_literal(host)
    if ip is not None:
        if _is_private(ip):
            return UrlRefusal(
                "private_ip", f"Host {host} is a private, loopback or reserved address; use a public host."
            )
        return None
    lowered = host.lower()
    if lowered == "localhost" or lowered in _METADATA_HOSTS or lowered.endswith(_BLOCKED_SUFFIXES):
        return UrlRefusal("blocked_hostname", f"Host name '{host}' is internal and cannot be scraped.")
    if lowered == "invalid" or lowered.endswith(".invalid"):
        return UrlRefusal("dns_failed", f"Host name '{host}' does not resolve.")
    return None
