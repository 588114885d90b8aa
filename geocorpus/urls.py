"""Verify and normalize source URLs, fully offline.

Every later stage (country tagging, dedup, the ``URL:`` prefix the model sees) trusts the columns
this module fills, so each input is either normalized or rejected with a machine-readable reason,
never an exception. Parsing uses plain ``str`` operations (no regex on the hot path); everything
that depends only on the host (IDNA, IP / local checks, Public Suffix lookup) is cached per host.
The rules are written up in ``docs/urls.md``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import quote, unquote

import idna
import tldextract

REJECT_REASONS: tuple[str, ...] = (
    "empty",  # None, "", or only whitespace / control characters
    "not_a_string",  # bytes, numbers, NaN from a dataframe, ...
    "too_long",  # longer than max_length characters
    "whitespace_or_control",  # whitespace, a control character or a lone surrogate inside the URL
    "relative_url",  # "/news/...", "./x", "?q", "#frag", "//intranet/x": needs a base URL
    "no_scheme",  # no "scheme:" and the text does not start with a public host name
    "unsupported_scheme",  # any scheme but http / https (ftp:, mailto:, javascript:, data:, ...)
    "no_host",  # http(s) URL with an empty host ("http://", "http:///x")
    "invalid_port",  # port not a number in 1..65535
    "invalid_host",  # forbidden characters, empty or over-long labels
    "invalid_idna",  # a Unicode or xn-- label that is not valid IDNA (UTS 46)
    "ip_address",  # IPv6 literal, or IPv4 in any WHATWG form (dotted, decimal, hex, octal)
    "local_host",  # localhost and reserved names: .localhost .local .internal .test .example .invalid
    "single_label_host",  # "intranet", "foo": no public suffix can apply
    "unknown_suffix",  # last label(s) not in the ICANN section of the bundled Public Suffix List
    "no_registrable_domain",  # the host is itself a public suffix ("co.uk")
)

# Tracking parameters. "name" drops the parameter whatever its value, "prefix*" drops every name
# starting with prefix, and "name=value" drops the pair only for that value (for names such as
# ref/src that are sometimes meaningful, sometimes a traffic label). Names and values match case-blind.
_CHANNEL_VALUES = (
    "rss",
    "rss2",
    "feed",
    "feeds",
    "feedly",
    "atom",
    "twitter",
    "tw",
    "facebook",
    "fb",
    "linkedin",
    "reddit",
    "email",
    "mail",
    "newsletter",
    "share",
    "social",
    "whatsapp",
    "telegram",
    "push",
    "homepage",
    "hp",
    "home",
    "nav",
    "menu",
    "sidebar",
    "related",
    "mobile",
    "app",
    "amp",
    "google",
    "googlenews",
    "gnews",
    "flipboard",
    "yahoo",
    "msn",
    "outbrain",
    "taboola",
    "sharebar",
)
DEFAULT_TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*",
    "ns_*",
    "_hs*",
    "mc_cid",
    "mc_eid",
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "msclkid",
    "yclid",
    "igshid",
    "twclid",
    "ttclid",
    "wbraid",
    "gbraid",
    "_ga",
    "_gl",
    "ito",
    "cmpid",
    "cmp",
    "icid",
    "ocid",
    "mbid",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wt.mc_id",
    "wt_mc_id",
    "__twitter_impression",
    "at_medium",
    "at_campaign",
    "at_custom1",
    "at_custom2",
    "at_custom3",
    "at_custom4",
    "ncid",
    "sr_share",
    "spm",
    "xtor",
    "smid",
    "soc_src",
    "soc_trk",
    *(f"{name}={value}" for name in ("ref", "rf", "src", "source", "from") for value in _CHANNEL_VALUES),
)

_ARCHIVE_HOSTS = frozenset({"web.archive.org", "archive.org", "www.archive.org", "wayback.archive.org"})
# AMP caches serve a copy of a page under their own host: <x>.cdn.ampproject.org/c/s/<origin URL>
# (https://developers.google.com/amp/cache/overview); Google's AMP viewer wraps it as google.<tld>/amp/s/<URL>.
_AMP_CACHE_SUFFIX = "cdn.ampproject.org"
_AMP_CACHE_KINDS = frozenset({"c", "v", "i", "r", "wp"})
_LOCAL_NAMES = frozenset({"localhost", "local", "internal", "test", "example", "invalid", "localdomain"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")
_HEX_DIGITS = frozenset("0123456789abcdef")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+-.")
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
_STRIPPED = "".join(chr(c) for c in range(0x21)) + "\ufeff"  # C0 controls, space, byte-order mark
# What WHATWG percent-encodes in paths and queries beyond non-ASCII (controls and spaces are rejected).
_SAFE_IN_URL = "".join(c for c in _PRINTABLE_ASCII if c not in '"<>`{}')
_DOT_SEGMENTS = {".": ".", "%2e": ".", "..": "..", ".%2e": "..", "%2e.": "..", "%2e%2e": ".."}
_ENTITIES = (("&amp;", "&"), ("&#38;", "&"), ("&#x26;", "&"), ("&#X26;", "&"))

_SUFFIX_EXTRACTOR: tldextract.TLDExtract | None = None


def _suffix_extractor() -> tldextract.TLDExtract:
    """One offline extractor per process: the Public Suffix List snapshot bundled with tldextract."""
    global _SUFFIX_EXTRACTOR
    if _SUFFIX_EXTRACTOR is None:
        _SUFFIX_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    return _SUFFIX_EXTRACTOR


class URLResult(NamedTuple):
    """One verified URL: ``ok`` with every column filled, or not ``ok`` with only ``reason``.

    A NamedTuple rather than a dataclass: it is built once per document on the hottest line of the
    pipeline, and a tuple is built in one C call.
    """

    ok: bool
    url: str | None  # normalized URL when ok
    host: str | None  # lowercase ASCII (punycode) host, no trailing dot, no port
    domain: str | None  # registrable domain, e.g. "bbc.co.uk" (ICANN section of the bundled PSL)
    suffix: str | None  # public suffix, e.g. "co.uk"
    unwrapped: bool  # True when taken out of an archive wrapper
    reason: str | None  # machine-readable rejection reason when not ok (one of REJECT_REASONS)


_new_result = tuple.__new__

#: (ascii host, registrable domain, public suffix, None) for a good host, (None, None, None, reason) otherwise.
_HostInfo = tuple[str, str, str, None] | tuple[None, None, None, str]


def _accepted(url: str, host: str, domain: str, suffix: str, unwrapped: bool) -> URLResult:
    """Same as URLResult(True, url, host, domain, suffix, unwrapped, None), faster."""
    return _new_result(URLResult, (True, url, host, domain, suffix, unwrapped, None))


def _rejected(reason: str, unwrapped: bool = False) -> URLResult:
    return URLResult(False, None, None, None, None, unwrapped, reason)


def _is_ipv4_number(label: str) -> bool:
    """WHATWG reads a host whose last label is a number (decimal, 0x-hex, octal) as IPv4."""
    if label.isdigit():
        return True
    if label[:2] == "0x":
        return all(c in _HEX_DIGITS for c in label[2:])
    return False


_IDNA_ERRORS = (idna.IDNAError, UnicodeError, ValueError, IndexError)


def _valid_punycode(label: str) -> bool:
    """An "xn--" label must decode to a valid IDNA U-label (WHATWG rejects e.g. "xn--pokxncvks")."""
    try:
        idna.decode(label)
    except _IDNA_ERRORS:
        return False
    return True


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 (with WHATWG's "%2e" spellings), so "/a/./b/../c" and "/a/c" are one URL."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments[1:], start=1):
        last = i == len(segments) - 1
        segment = _DOT_SEGMENTS.get(segment.lower(), segment) if len(segment) <= 6 else segment
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


class URLVerifier:
    """Normalizes http(s) URLs and rejects the rest with one reason from ``REJECT_REASONS``."""

    def __init__(
        self,
        max_length: int = 2048,
        tracking_params: Iterable[str] | None = None,
        host_cache_size: int = 65536,
    ) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be positive, got {max_length}")
        if host_cache_size < 1:
            raise ValueError(f"host_cache_size must be positive, got {host_cache_size}")
        self.max_length = max_length
        self.host_cache_size = host_cache_size
        self.tracking_params = tuple(DEFAULT_TRACKING_PARAMS if tracking_params is None else tracking_params)
        names: set[str] = set()
        prefixes: list[str] = []
        pairs: set[str] = set()
        for entry in self.tracking_params:
            entry = entry.strip().lower()
            if not entry:
                raise ValueError("tracking_params contains an empty entry")
            if "=" in entry:
                pairs.add(entry)
            elif entry.endswith("*"):
                prefixes.append(entry[:-1])
            else:
                names.add(entry)
        self._drop_names = frozenset(names)
        self._drop_prefixes = tuple(prefixes)
        self._drop_pairs = frozenset(pairs)
        self._host_cache: dict[str, _HostInfo] = {}
        self._extract = _suffix_extractor()

    def __getstate__(self) -> dict:
        """Pickle settings only: datatrove ships steps to worker processes, which rebuild the
        suffix list once per process and fill their own host cache."""
        state = dict(self.__dict__)
        state["_host_cache"] = {}
        del state["_extract"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._extract = _suffix_extractor()

    # ------------------------------------------------------------------ host (cached)
    def _host_info(self, raw_host: str) -> _HostInfo:
        """raw host text -> (ascii host, domain, suffix, rejection reason), cached per raw host."""
        info = self._host_cache.get(raw_host)
        if info is None:
            info = self._analyse_host(raw_host)
            cache = self._host_cache
            if len(cache) >= self.host_cache_size:
                del cache[next(iter(cache))]  # oldest first: dicts keep insertion order
            cache[raw_host] = info
        return info

    def _analyse_host(self, raw_host: str) -> _HostInfo:
        host = raw_host
        if "%" in host:
            if not _decodable(host):
                return None, None, None, "invalid_host"
            host = unquote(host, errors="strict")
        if host[:1] == "[":
            return None, None, None, "ip_address"
        if host.endswith("."):
            host = host[:-1]
        if not host.isascii():
            try:
                host = idna.encode(host, uts46=True).decode("ascii")
            except _IDNA_ERRORS:
                return None, None, None, "invalid_idna"
        host = host.lower()
        if host.endswith("."):
            host = host[:-1]
        if not host:
            return None, None, None, "no_host"
        if not _HOST_CHARS.issuperset(host):
            return None, None, None, "invalid_host"
        labels = host.split(".")
        if len(host) > 253 or any(not label or len(label) > 63 for label in labels):
            return None, None, None, "invalid_host"
        if _is_ipv4_number(labels[-1]):
            return None, None, None, "ip_address"
        if "xn--" in host and not all(_valid_punycode(label) for label in labels if label.startswith("xn--")):
            return None, None, None, "invalid_idna"
        if labels[-1] in _LOCAL_NAMES:
            return None, None, None, "local_host"
        if len(labels) == 1:
            return None, None, None, "single_label_host"
        parts = self._extract(host)
        if not parts.suffix:
            return None, None, None, "unknown_suffix"
        if not parts.domain:
            return None, None, None, "no_registrable_domain"
        return host, f"{parts.domain}.{parts.suffix}", parts.suffix, None

    # ------------------------------------------------------------------ query
    def _strip_tracking(self, query: str) -> str:
        """Drop tracking parameters (and empty "&&" pieces); the others keep their order."""
        names, prefixes, pairs = self._drop_names, self._drop_prefixes, self._drop_pairs
        params = query.lower().split("&")
        if len(params) == 1:  # the common single-parameter query, without building lists
            name = params[0].partition("=")[0]
            if not name or name in names or name.startswith(prefixes) or params[0] in pairs:
                return ""
            return query
        kept = [
            original
            for original, param in zip(query.split("&"), params)
            if param
            and param[0] != "="
            and not ((name := param.partition("=")[0]) in names or name.startswith(prefixes) or param in pairs)
        ]
        return "&".join(kept)

    # ------------------------------------------------------------------ main entry
    def verify(self, raw: str | None) -> URLResult:
        """Normalize ``raw`` or say why not; never raises on any string (or None).

        One flat function on purpose: it runs once per document, and call overhead is a visible
        share of its cost. An archive wrapper sends the loop round once more with the inner URL.
        """
        if raw.__class__ is not str:
            if raw is None:
                return _rejected("empty")
            if not isinstance(raw, str):
                return _rejected("not_a_string")
        if len(raw) > self.max_length:
            return _rejected("too_long")
        text = raw.strip(_STRIPPED)
        if not text:
            return _rejected("empty")
        if " " in text or (not text.isprintable() and _has_space_or_control(text)):
            return _rejected("whitespace_or_control")
        if "&" in text and ("&amp;" in text or "&#" in text):
            text = _decode_entities(text)
        # The checks above hold for any substring, so an unwrapped archive target skips most of them.
        unwrapped = False
        for _ in range(4):  # an archive link may wrap another archive link; bounded on purpose
            # ---- scheme
            if text[:8] == "https://" or text[:8].lower() == "https://":
                scheme, rest = "https", text[8:]
            elif text[:7] == "http://" or text[:7].lower() == "http://":
                scheme, rest = "http", text[7:]
            else:
                split = self._split_unusual_scheme(text, unwrapped)
                if isinstance(split, URLResult):
                    return split
                scheme, rest = split
            if rest[:20] == "web.archive.org/web/":  # fast path for the common Wayback form
                inner = _archived_target(rest[15:].partition("#")[0])
                if inner is not None:
                    text, unwrapped = inner, True
                    continue
            while rest[:1] in "hH" and rest[:4].lower() == "http":  # "http://https://x": keep the inner scheme
                low = rest[:8].lower()
                if low.startswith("https://"):
                    scheme, rest = "https", rest[8:]
                elif low.startswith("http://"):
                    scheme, rest = "http", rest[7:]
                else:
                    break

            # ---- authority
            if "\\" in rest:
                rest = rest.replace("\\", "/")  # WHATWG: "\\" is "/" in http(s) URLs
            cut = rest.find("/")
            if cut < 0:
                cut = len(rest)
            authority = rest[:cut]
            if "?" in authority or "#" in authority:
                cut = min(p for p in (authority.find("?"), authority.find("#")) if p >= 0)
                authority = rest[:cut]
            tail = rest[cut:]
            if "@" in authority:
                authority = authority.rpartition("@")[2]
            port = ""
            if ":" in authority and authority[:1] != "[":
                authority, _, port = authority.rpartition(":")
                if port:
                    if not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
                        return _rejected("invalid_port", unwrapped)
                    port = port.lstrip("0")
            if not scheme:  # scheme-less input: http, unless it names the https port
                scheme = "https" if port == "443" else "http"
            if port and port == _DEFAULT_PORTS[scheme]:
                port = ""
            if not authority:
                return _rejected("no_host", unwrapped)
            info = self._host_cache.get(authority)
            if info is None:
                info = self._host_info(authority)
            if info[3] is not None:
                return _rejected(info[3], unwrapped)
            host, domain, suffix, _ = info

            # ---- path, query, fragment
            if "#" in tail:
                tail = tail.partition("#")[0]
            if host in _ARCHIVE_HOSTS:
                inner = _archived_target(tail)
                if inner is not None:
                    text, unwrapped = inner, True
                    continue
            if host.endswith(_AMP_CACHE_SUFFIX) or (domain[:7] == "google." and tail[:5] == "/amp/"):
                inner = _amp_target(tail, host)
                if inner is not None:
                    text, unwrapped = inner, True
                    continue
            path, _, query = tail.partition("?")
            if not path:
                path = "/"
            elif "/." in path or ("%2" in path and "%2e" in path.lower()):
                path = _remove_dot_segments(path)
            if query:
                query = self._strip_tracking(query)
            if (
                not tail.isascii()
                or '"' in tail
                or "<" in tail
                or ">" in tail
                or "`" in tail
                or "{" in tail
                or "}" in tail
            ):
                path = quote(path, safe=_SAFE_IN_URL)
                query = quote(query, safe=_SAFE_IN_URL)
            netloc = f"{host}:{port}" if port else host
            url = f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"
            if len(url) > self.max_length:  # percent-encoding can lengthen a URL up to ninefold
                return _rejected("too_long", unwrapped)
            return _accepted(url, host, domain, suffix, unwrapped)
        return _rejected("invalid_host", unwrapped)  # more than three nested archive wrappers

    def _split_unusual_scheme(self, text: str, unwrapped: bool) -> tuple[str, str] | URLResult:
        """Everything but a plain "http(s)://" start: odd slashes, other schemes, scheme-less text.

        Returns (scheme, text after the scheme) or a rejection; scheme "" means none was written.
        """
        failure = "no_scheme"
        if text[0] in "/.?#\\":
            if not text.startswith("//") or text.startswith("///"):
                return _rejected("relative_url", unwrapped)
            # "//host/path" (scheme-relative) names its host: the same rule as scheme-less text
            text, failure = text[2:], "relative_url"
        else:
            colon = text.find(":")
            if colon > 0:
                candidate = text[:colon].lower()
                after = text[colon + 1 :]
                if candidate in _DEFAULT_PORTS:
                    # WHATWG: a special scheme skips any run of "/" and "\" ("http:/x", "http:\\x", "http:x").
                    return candidate, after.lstrip("/\\")
                looks_like_scheme = (
                    candidate[:1].isalpha() and _SCHEME_CHARS.issuperset(candidate) and candidate.isascii()
                )
                port_follows = after[:1].isdigit() and "." in candidate  # "www.example.com:8080/x"
                if looks_like_scheme and not port_follows:
                    return _rejected("unsupported_scheme", unwrapped)
        # Scheme-less: accepted only when the text up to the first "/" is a public host name.
        cut = len(text)
        for sep in "/?#\\":
            pos = text.find(sep)
            if -1 < pos < cut:
                cut = pos
        authority = text[:cut].rpartition(":")[0] if ":" in text[:cut] else text[:cut]
        if "@" in authority or "." not in authority or self._host_info(authority)[3] is not None:
            return _rejected(failure, unwrapped)
        return "", text  # the caller picks http, or https for port 443


def _has_space_or_control(text: str) -> bool:
    """Whitespace, C0/C1 controls and lone surrogates make a URL unusable. Format characters such as
    U+200E (left-to-right mark, real in Arabic news slugs) are not: like browsers, the path keeps
    them percent-encoded, and IDNA rejects them in hosts. Only called when isprintable() fails."""
    for char in text:
        if not char.isprintable() and (char.isspace() or unicodedata.category(char) in ("Cc", "Cs")):
            return True
    return " " in text


def _decodable(text: str) -> bool:
    """Percent escapes in a host must decode to UTF-8, else the host is invalid."""
    try:
        unquote(text, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def _decode_entities(text: str) -> str:
    """Undo HTML-escaped ampersands ("&amp;" from scraped feeds/HTML), also when escaped twice.

    Only the ampersand entities are decoded: a general unescape would turn "&para=1" into "¶=1".
    """
    while True:  # each round shortens the text, so this ends
        before = text
        for entity, char in _ENTITIES:
            if entity in text:
                text = text.replace(entity, char)
        if text == before:
            break
    return text


def _archived_target(tail: str) -> str | None:
    """The original URL inside a Wayback Machine link (path + query, no fragment), or None.

    Forms: /web/<timestamp>[id_|if_|im_|js_|cs_|...]/<url>, /web/<timestamp>*/<url>, /web/<url>
    (the SemEval links), inner URL with or without scheme, and /wayback/available?url=<url>.
    A link that names only a timestamp wraps nothing and stays an archive.org URL.
    """
    if tail.startswith("/web/"):
        target = tail[5:]
        first, _, remainder = target.partition("/")
        stamp = first.rstrip("*")
        if len(stamp) > 3 and stamp[-1] == "_" and stamp[-3:-1].isalpha():
            stamp = stamp[:-3]
        if (stamp.isdigit() or first == "*") and ":" not in first:
            target = remainder
        return target or None
    path, _, query = tail.partition("?")
    if path.rstrip("/") in ("/wayback/available", "/wayback"):
        for param in query.split("&"):
            name, _, value = param.partition("=")
            if name == "url" and value:
                target = unquote(value)
                # decoding could bring back what the whole-URL checks rejected
                return None if _has_space_or_control(target) else target
    return None


def _amp_target(tail: str, host: str) -> str | None:
    """The origin URL inside an AMP cache or AMP viewer link (path + query, no fragment), or None.

    Cache forms: ``/c/s/<host>/<path>`` (``s`` = https, else http), also ``/v/``, ``/i/``, ``/r/``,
    ``/wp/``; viewer form (google.<tld>): ``/amp/s/<host>/<path>``, ``/amp/<host>/<path>``.
    """
    kinds = _AMP_CACHE_KINDS if host.endswith(_AMP_CACHE_SUFFIX) else frozenset({"amp"})
    kind, _, rest = tail[1:].partition("/")
    if kind not in kinds or not rest:
        return None
    scheme = "http://"
    if rest[:2] == "s/":
        scheme, rest = "https://", rest[2:]
    if not rest or rest[0] in "/?":
        return None
    return scheme + rest


def url_path(url: str) -> str:
    """The path of an absolute URL (no query or fragment): what registry path prefixes match."""
    rest = url.partition("://")[2] if "://" in url else url
    cut = rest.find("/")
    if cut < 0:
        return "/"
    path = rest[cut:]
    for separator in "?#":
        path = path.partition(separator)[0]
    return path or "/"


def url_key(url: str) -> str:
    """A loose identity of a normalized URL, for exact dedup: one article under two spellings
    (http/https, ``www.`` or not, a trailing slash, query parameters in another order) gets one key.

    ``url_normalized`` stays faithful to what was read; this key is only compared, never shown.
    ``https://www.x.com/a/?b=2&a=1`` -> ``x.com/a?a=1&b=2``.
    """
    rest = url.partition("://")[2] if "://" in url else url
    cut = rest.find("/")
    host, tail = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
    if host[:4] == "www.":
        host = host[4:]
    path, _, query = tail.partition("?")
    path = path.rstrip("/")
    if query:
        params = [param for param in query.split("&") if param]
        query = "&".join(sorted(params))
    return f"{host}{path}?{query}" if query else f"{host}{path}"


_DEFAULT_VERIFIER: URLVerifier | None = None


def verify_url(raw: str | None) -> URLResult:
    """``URLVerifier().verify`` with the default settings, one verifier (and host cache) per process."""
    global _DEFAULT_VERIFIER
    if _DEFAULT_VERIFIER is None:
        _DEFAULT_VERIFIER = URLVerifier()
    return _DEFAULT_VERIFIER.verify(raw)
