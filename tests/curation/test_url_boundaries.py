"""URL verification at its boundaries: the last valid and first invalid value of every limit.

Tests of typical URLs pass a verifier whose port check says ``< 65535`` instead of ``<= 65535``; only
the values at the edge tell the two apart. The port range is 1..65535 as the reject reasons document
(port 0 is reserved and no public site serves on it); leading zeros are allowed as WHATWG allows them.
"""

from __future__ import annotations

import pytest

from geocorpus.urls import URLVerifier

HOST = "http://www.bbc.co.uk"


@pytest.fixture(scope="module")
def verifier() -> URLVerifier:
    return URLVerifier()


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("65535", f"{HOST}:65535/x"),  # the largest port
        ("065535", f"{HOST}:65535/x"),  # leading zeros do not change the number
        ("1", f"{HOST}:1/x"),  # the smallest port
        ("8080", f"{HOST}:8080/x"),
        ("80", f"{HOST}/x"),  # the scheme's default port is dropped
        ("0080", f"{HOST}/x"),
        ("", f"{HOST}/x"),  # "host:" with no digits means no port
    ],
)
def test_ports_in_range_are_kept(verifier, port, expected):
    result = verifier.verify(f"{HOST}:{port}/x")
    assert result.ok, result.reason
    assert result.url == expected


@pytest.mark.parametrize("port", ["65536", "065536", "99999", "0", "00", "-1", "+80", "8o", "\uff10", "1e3"])
def test_ports_out_of_range_or_not_decimal_are_rejected(verifier, port):
    result = verifier.verify(f"{HOST}:{port}/x")
    assert not result.ok and result.reason == "invalid_port", (port, result)


def test_the_https_port_is_default_only_for_https(verifier):
    assert verifier.verify("https://www.bbc.co.uk:443/x").url == "https://www.bbc.co.uk/x"
    assert verifier.verify("http://www.bbc.co.uk:443/x").url == "http://www.bbc.co.uk:443/x"
    assert verifier.verify("www.bbc.co.uk:443/x").url == "https://www.bbc.co.uk/x"  # scheme-less: the port decides
    assert verifier.verify("www.bbc.co.uk:8443/x").url == "http://www.bbc.co.uk:8443/x"


@pytest.mark.parametrize("max_length", [40, 2048])
def test_max_length_is_inclusive(max_length):
    verifier = URLVerifier(max_length=max_length)
    stem = "https://www.bbc.co.uk/"
    exact = stem + "a" * (max_length - len(stem))
    assert len(exact) == max_length
    assert verifier.verify(exact).ok
    too_long = verifier.verify(exact + "a")
    assert not too_long.ok and too_long.reason == "too_long"


def test_a_url_that_percent_encoding_makes_too_long_is_rejected():
    verifier = URLVerifier(max_length=60)
    raw = "https://www.bbc.co.uk/" + "é" * 20  # 42 characters as given, 142 once percent-encoded
    assert len(raw) <= 60
    result = verifier.verify(raw)
    assert not result.ok and result.reason == "too_long"
    assert URLVerifier(max_length=142).verify(raw).ok
    assert not URLVerifier(max_length=141).verify(raw).ok


@pytest.mark.parametrize("max_length", [0, -1])
def test_max_length_must_be_positive(max_length):
    with pytest.raises(ValueError, match="max_length must be positive"):
        URLVerifier(max_length=max_length)
    assert URLVerifier(max_length=1).max_length == 1


# --------------------------------------------------------------------------------------------------
# edges found by mutation testing (.ci/mutation.py urls): each test below failed a surviving mutant
# --------------------------------------------------------------------------------------------------
def test_the_default_max_length_is_the_documented_2048():
    stem = "https://www.bbc.co.uk/"
    verifier = URLVerifier()
    assert verifier.verify(stem + "a" * (2048 - len(stem))).ok
    assert verifier.verify(stem + "a" * (2049 - len(stem))).reason == "too_long"


def test_host_cache_size_must_be_positive_and_a_tiny_cache_changes_nothing():
    with pytest.raises(ValueError, match="host_cache_size must be positive"):
        URLVerifier(host_cache_size=0)
    urls = [f"https://www{n % 3}.bbc.co.uk/{n}" for n in range(12)] + ["http://localhost/x", "https://x.co.uk/"]
    tiny, default = URLVerifier(host_cache_size=1), URLVerifier()
    assert [tiny.verify(u) for u in urls] == [default.verify(u) for u in urls]


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (".".join(["a" * 60] * 4) + ".abc.co.uk", True),  # 253 characters: the longest host name
        (".".join(["a" * 60] * 4) + ".abcd.co.uk", False),  # 254
        ("a" * 63 + ".co.uk", True),  # the longest label
        ("a" * 64 + ".co.uk", False),
    ],
)
def test_host_and_label_length_limits(verifier, host, ok):
    assert len(host) in (253, 254, 69, 70)
    result = verifier.verify(f"http://{host}/")
    assert result.ok is ok and (ok or result.reason == "invalid_host"), (len(host), result)


def test_a_percent_encoded_host_is_decoded(verifier):
    assert verifier.verify("http://www.%62bc.co.uk/x").url == "http://www.bbc.co.uk/x"
    assert verifier.verify("http://www.%ff.co.uk/x").reason == "invalid_host"  # not UTF-8


def test_only_ampersand_entities_are_decoded(verifier):
    assert verifier.verify("http://www.bbc.co.uk/?a=1&para=2").url == "http://www.bbc.co.uk/?a=1&para=2"
    assert verifier.verify("http://www.bbc.co.uk/?a=1&amp;b=2").url == "http://www.bbc.co.uk/?a=1&b=2"
    assert verifier.verify("http://www.bbc.co.uk/?a=1&#38;b=2").url == "http://www.bbc.co.uk/?a=1&b=2"
    assert verifier.verify("http://www.bbc.co.uk/?a=1&amp;amp;b=2").url == "http://www.bbc.co.uk/?a=1&b=2"


@pytest.mark.parametrize(
    ("path", "expected"), [("/a/.", "/a/"), ("/a/b/..", "/a/"), ("/a/./b", "/a/b"), ("/%2e%2e/x", "/x")]
)
def test_dot_segments_at_the_end_keep_the_trailing_slash(verifier, path, expected):
    assert verifier.verify(f"http://www.bbc.co.uk{path}").url == f"http://www.bbc.co.uk{expected}"


@pytest.mark.parametrize("char", list('"<>`{}'))
def test_characters_whatwg_encodes_in_a_path_are_percent_encoded(verifier, char):
    encoded = f"%{ord(char):02X}"
    assert (
        verifier.verify(f"http://www.bbc.co.uk/a{char}b?q={char}").url
        == f"http://www.bbc.co.uk/a{encoded}b?q={encoded}"
    )


def test_scheme_relative_urls_name_their_host_but_three_slashes_do_not(verifier):
    assert verifier.verify("//www.bbc.co.uk/x").url == "http://www.bbc.co.uk/x"
    assert verifier.verify("///www.bbc.co.uk/x").reason == "relative_url"


def test_a_scheme_followed_by_digits_is_still_a_scheme(verifier):
    assert verifier.verify("tel:5551234").reason == "unsupported_scheme"
    assert verifier.verify("www.bbc.co.uk:8080/x").url == "http://www.bbc.co.uk:8080/x"  # a host, then a port


def test_archive_links_nest_at_most_three_deep(verifier):
    url = "https://www.bbc.co.uk/news"
    for depth in range(1, 5):
        url = "https://web.archive.org/web/2020/" + url
        result = verifier.verify(url)
        assert result.unwrapped is True
        assert result.ok is (depth <= 3), (depth, result)
    assert result.reason == "invalid_host"


@pytest.mark.parametrize(
    "wrapper",
    [
        "https://web.archive.org/web/20200101id_/",  # a timestamp with a replay-mode suffix
        "https://web.archive.org/web/20200101if_/",
        "https://web.archive.org/web/2id_/",  # a one-digit timestamp (Wayback takes any prefix) with a mode
        "https://web.archive.org/web/2020*/",
        "https://web.archive.org/web/*/",
        "https://archive.org/wayback/available?timestamp=2020&url=",  # url is not the first parameter
    ],
)
def test_archive_link_forms_unwrap_to_the_original(verifier, wrapper):
    result = verifier.verify(wrapper + "https://www.bbc.co.uk/news")
    assert (result.ok, result.url, result.unwrapped) == (True, "https://www.bbc.co.uk/news", True)


def test_a_rejection_is_unwrapped_only_when_an_archive_link_was(verifier):
    for raw in ("", None, 123, "http://www.bbc.co.uk/a b", "https://www.bbc.co.uk/" + "a" * 3000):
        assert verifier.verify(raw).unwrapped is False, raw  # the early rejections
    assert verifier.verify("ftp://www.bbc.co.uk/a").unwrapped is False
    assert verifier.verify("http://localhost/x").unwrapped is False
    inner = verifier.verify("https://web.archive.org/web/2020/http://localhost/x")
    assert (inner.ok, inner.reason, inner.unwrapped) == (False, "local_host", True)


def test_a_path_that_looks_like_a_host_is_still_relative(verifier):
    assert verifier.verify("/www.bbc.co.uk/x").reason == "relative_url"


def test_printable_ascii_stays_as_written_where_other_characters_are_encoded(verifier):
    assert verifier.verify("http://www.bbc.co.uk/a!b<c").url == "http://www.bbc.co.uk/a!b%3Cc"
    assert verifier.verify("http://www.bbc.co.uk/a!").url == "http://www.bbc.co.uk/a!"  # only controls are stripped


def test_hex_ipv4_hosts_and_trailing_dots(verifier):
    assert verifier.verify("http://0xc0.0xa8.0x0.0x1/").reason == "ip_address"
    assert verifier.verify("http://www.bbc.co.uk./x").url == "http://www.bbc.co.uk/x"
    assert verifier.verify("http://www.bbc.co.uk../x").url == "http://www.bbc.co.uk/x"  # one dot per pass
    assert verifier.verify("http://www.bbc.co.uk\u3002/x").url == "http://www.bbc.co.uk/x"  # IDNA maps U+3002 to "."


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.bbc.co.uk/amp/s/www.cnn.com/x",
            "https://www.bbc.co.uk/amp/s/www.cnn.com/x",
        ),  # a site's own /amp/
        (
            "https://cdn.ampproject.org/x/www.bbc.co.uk/news",
            "https://cdn.ampproject.org/x/www.bbc.co.uk/news",
        ),  # no cache kind
        ("https://cdn.ampproject.org/c/s/?x", "https://cdn.ampproject.org/c/s/?x"),  # no origin host
        ("https://cdn.ampproject.org/c/s/www.bbc.co.uk/news", "https://www.bbc.co.uk/news"),
        ("https://www.google.com/amp/s/www.bbc.co.uk/news", "https://www.bbc.co.uk/news"),
    ],
)
def test_only_amp_cache_and_viewer_links_unwrap(verifier, url, expected):
    result = verifier.verify(url)
    assert (result.url, result.unwrapped) == (expected, expected != url)


def test_url_path_is_the_path_without_query_or_fragment():
    from geocorpus.urls import url_path

    assert url_path("https://www.theguardian.com/au/news?x=1#f") == "/au/news"
    assert url_path("https://x.com") == "/"
    assert url_path("https://x.com/?q") == "/"


def test_a_last_label_that_is_0x_and_a_non_hex_letter_is_no_ipv4(verifier):
    assert verifier.verify("http://a.0xz/").reason == "unknown_suffix"


def test_a_tracking_prefix_strips_only_parameters_with_that_prefix(verifier):
    assert verifier.verify("http://www.bbc.co.uk/x?utm_source=a&user=1&u=2").url == "http://www.bbc.co.uk/x?user=1&u=2"
    assert verifier.verify("http://www.bbc.co.uk/x?utm_source=a&utmost=1").url == "http://www.bbc.co.uk/x?utmost=1"
    custom = URLVerifier(tracking_params=["ref_*"])
    assert custom.verify("http://www.bbc.co.uk/x?ref_src=a&r=1&rank=2").url == "http://www.bbc.co.uk/x?r=1&rank=2"
