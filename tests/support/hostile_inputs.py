"""Hostile input files: records built to break a reader or a writer (deep nesting, lone surrogates, giant
records and lines, truncated WARCs, stray CSV quotes, compressed bytes under a plain name).

Texts are real where a text is needed (fundus articles from the shared data); each builder returns what a
correct reader must make of the file.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from support.input_files import fundus_pages


def real_articles(shared: Path, count: int) -> list[dict]:
    """The first ``count`` English fundus articles (url, title, text)."""
    found = []
    for line in (Path(shared) / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        if record.get("fundus_country_dir") in ("us", "uk", "au", "ca") and len(record["text"].split()) > 80:
            found.append({"url": record["url"], "title": record["title"], "text": record["text"]})
        if len(found) == count:
            break
    return found


def write_deep_json(path: Path, shared: Path) -> dict:
    """JSONL: real articles, one carrying a field nested 1,000 lists deep, one nested past any JSON parser's
    limit (3,000). Returns {"documents", "errors": {row: reason}}."""
    articles = real_articles(shared, 4)

    def nested(article: dict, depth: int) -> str:  # written as text: json.dumps itself cannot nest that deep
        return json.dumps(article)[:-1] + ', "comments": ' + "[" * depth + "]" * depth + "}"

    lines = [json.dumps(articles[0]), nested(articles[1], 1000), nested(articles[2], 3000), json.dumps(articles[3])]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"documents": 2, "errors": {1: "nested_too_deep", 2: "invalid_json"}}


def _warc_response(writer, url: str, payload: bytes, content_type: str):
    from warcio.statusandheaders import StatusAndHeaders

    http_headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(
        url,
        "response",
        payload=io.BytesIO(payload),
        http_headers=http_headers,
        warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z"},
    )


def write_utf7_warc(path: Path, shared: Path) -> dict:
    """A WARC.gz of two real fundus pages around one page declared UTF-7 whose bytes decode to a lone
    surrogate (``+2AA-`` is U+D800). Returns {"documents", "bad_index"}."""
    from warcio.warcwriter import WARCWriter

    pages = fundus_pages(shared, limit=2)
    hostile = b"<html><head><title>Caf+AOk-</title></head><body><article><p>" + b"News +2AA- today. " * 40
    hostile += b"</p></article></body></html>"
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        html = gzip.decompress(pages[0]["path"].read_bytes())
        writer.write_record(_warc_response(writer, pages[0]["url"], html, "text/html; charset=utf-8"))
        writer.write_record(
            _warc_response(writer, "https://www.example.co.uk/utf7", hostile, "text/html; charset=utf-7")
        )
        html = gzip.decompress(pages[1]["path"].read_bytes())
        writer.write_record(_warc_response(writer, pages[1]["url"], html, "text/html; charset=utf-8"))
    return {"documents": 2, "bad_index": 1}


def write_cut_warc(path: Path, shared: Path, records: int = 3, cut_bytes: int = 200) -> dict:
    """A WARC.gz of ``records`` real fundus pages (one gzip member each) with its last ``cut_bytes`` cut off.
    Returns {"complete": records before the cut, "records"}."""
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for page in fundus_pages(shared, limit=records):
        html = gzip.decompress(page["path"].read_bytes())
        writer.write_record(_warc_response(writer, page["url"], html, "text/html; charset=utf-8"))
    Path(path).write_bytes(buffer.getvalue()[:-cut_bytes])
    return {"complete": records - 1, "records": records}


def write_stray_quote_csv(path: Path, shared: Path) -> dict:
    """CSV of real articles (url, title, text); row 1's text opens with a quote that never closes properly.
    Returns {"documents", "bad_row", "urls"}: the csv module would otherwise merge rows 2.. into row 1."""
    articles = real_articles(shared, 5)
    rows = ["url,title,text"]
    for index, article in enumerate(articles):
        text = " ".join(article["text"].split()).replace('"', "'").replace(",", ";")
        title = article["title"].replace('"', "'").replace(",", ";")
        if index == 1:
            text = f'"He said "no" twice {text}'  # a stray quote opening the field
        rows.append(f"{article['url']},{title},{text}")
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"documents": 4, "bad_row": 1, "urls": [a["url"] for a in articles]}


def write_compressed_named_plain(path: Path, shared: Path, codec: str) -> dict:
    """A JSONL of real articles compressed with ``codec`` (gzip | zstd) but named ``.jsonl``."""
    lines = ("\n".join(json.dumps(a) for a in real_articles(shared, 20)) + "\n").encode()
    if codec == "gzip":
        data = gzip.compress(lines)
    else:
        import zstandard

        data = zstandard.ZstdCompressor().compress(lines)
    Path(path).write_bytes(data)
    return {"documents": 0, "errors": 1}


def write_giant_line_gzip(path: Path, shared: Path, line_bytes: int) -> dict:
    """A small JSONL.gz: a real article, one line of ``line_bytes`` bytes (compresses ~1000:1), another article."""
    first, last = real_articles(shared, 2)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(json.dumps(first).encode() + b"\n")
        out.write(b'{"url": "https://www.example.com/huge", "text": "')
        block = b"a" * (1 << 20)
        for _ in range(line_bytes >> 20):
            out.write(block)
        out.write(b'"}\n')
        out.write(json.dumps(last).encode() + b"\n")
    return {"documents": 2, "bad_row": 1}


def write_oversized_record(path: Path, shared: Path, text_chars: int) -> dict:
    """JSONL: a real article, one whose text is the article repeated to ``text_chars`` characters, another."""
    first, middle, last = real_articles(shared, 3)
    repeats = text_chars // len(middle["text"]) + 1
    huge = {**middle, "text": ((middle["text"] + " ") * repeats)[:text_chars]}
    Path(path).write_text("\n".join(json.dumps(r) for r in (first, huge, last)) + "\n", encoding="utf-8")
    return {"documents": 2, "bad_row": 1}
