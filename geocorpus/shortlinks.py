"""URL shorteners and redirectors: hosts whose URLs name no outlet, only a hop to one.

A shortlink's host says nothing about where the article was published (``bbc.in`` is the BBC,
not India; ``youtu.be`` is not Belgium; ``dlvr.it`` is not Italy), so its ccTLD must never be
country evidence, and two shortlinks to one article look like two URLs. The hosts come from a
named public list, ``geocorpus/data/url_shorteners.txt`` (PeterDaveHello/url-shorteners, CC BY-SA
4.0; source and commit in its header), never from hand-written entries.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import tldextract

SHORTENERS_FILE = Path(__file__).resolve().parent / "data" / "url_shorteners.txt"
#: HTTP statuses of a redirect whose ``Location`` is the next hop.
REDIRECT_STATUSES = frozenset({"301", "302", "303", "307", "308"})


@lru_cache(maxsize=1)
def shortener_hosts() -> frozenset[str]:
    """The listed hosts, lower case (read once per process)."""
    lines = SHORTENERS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=65536)
def is_shortener(host: str | None, domain: str | None = None) -> bool:
    """True for a listed host or a host under a listed one, down to the registrable ``domain``
    (``www.bit.ly``; ``on.wsj.com`` but not ``wsj.com``; ``x.nat.gov.tw`` is not under the listed
    public suffix ``gov.tw``, because every name under a public suffix is someone else's)."""
    if not host:
        return False
    hosts = shortener_hosts()
    candidate = host.lower().rstrip(".")
    if domain is None:
        domain = _registrable_domain(candidate)
    while candidate:
        if candidate in hosts:
            return True
        if not domain or candidate == domain or not candidate.endswith("." + domain):
            return False
        candidate = candidate.partition(".")[2]
    return False


def is_shortlink(host: str | None, domain: str | None, path: str | None) -> bool:
    """A URL that is a hop, not a page: a listed host and at most two path segments (``bit.ly/3xYz``,
    ``dw.com/p/3xYz``). Deeper paths on a listed host are the outlet's own pages: some outlets'
    shorteners share their main host (``dw.com``), whose articles are ``/en/<title>/a-<id>``."""
    if not is_shortener(host, domain):
        return False
    segments = [segment for segment in (path or "").split("?")[0].split("/") if segment]
    return len(segments) <= 2


def _registrable_domain(host: str) -> str | None:
    return _extractor()(host).top_domain_under_public_suffix or None


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    """Offline Public Suffix List lookups (bundled snapshot, no download)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


#: Metadata key a reader sets on a document fetched under a shortlink: where the redirects lead.
REDIRECT_TARGET_KEY = "redirect_target"
#: Redirect chains longer than this are not followed (a loop, or a tracker bouncing through hosts).
MAX_REDIRECT_HOPS = 10


def follow_redirects(redirects: dict[str, str], url: str) -> str | None:
    """Where ``url`` ends after the recorded hops (``{from: to}``, e.g. a WARC's 3xx records), or None
    when no hop is recorded for it or the chain loops or runs past ``MAX_REDIRECT_HOPS``."""
    seen = {url}
    current = url
    for _ in range(MAX_REDIRECT_HOPS):
        following = redirects.get(current)
        if following is None:
            return None if current == url else current
        if following in seen:
            return None
        seen.add(following)
        current = following
    return None
