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
