"""Curation input files: a NOW corpus, a fundus WARC, and broken, truncated or corrupt record files.

Shared by the reader tests, the end-to-end tests and the reliability tests (and the reader benchmarks).

Each builder writes a small input to disk and returns what a correct reader must make of it,
computed from what was written (never from running a reader).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from datetime import datetime, timezone
from pathlib import Path

# ---------------------------------------------------------------------------------------------------
# NOW corpus
# ---------------------------------------------------------------------------------------------------
NOW_GAP = "@ @ @ @ @ @ @ @ @ @"

_NOW_ARTICLES = {
    # file -> list of (textID, country, website, url, title, paragraphs); textID None = no source row
    "text/16-01-us.txt": [
        (
            "1001",
            "US",
            "nytimes.com",
            "https://www.nytimes.com/2016/01/02/us/budget.html",
            "Congress passes budget",
            ["Congress passed the budget on Friday .", f"The vote was {NOW_GAP} close , officials said ."],
        ),
        (
            "1002",
            "US",
            "latimes.com",
            "http://www.latimes.com/local/la-me-rain-20160105-story.html",
            "Rain returns",
            ["Heavy rain returned to Los Angeles .", "Forecasters expect more storms this week ."],
        ),
    ],
    "text/16-02-in.txt": [
        (
            "2001",
            "IN",
            "thehindu.com",
            "http://www.thehindu.com/news/national/article8201.ece",
            "Monsoon outlook",
            ["The monsoon is expected to be normal .", f"Farmers in {NOW_GAP} welcomed the forecast ."],
        ),
        (
            "2002",
            "IN",
            "ndtv.com",
            "http://www.ndtv.com/india-news/cricket-1234",
            "Cricket win",
            ["India won the final by six wickets ."],
        ),
        ("2999", None, None, None, None, ["This entry has no row in the sources file ."]),
    ],
    "text/17-01-gb.txt": [
        (
            "3001",
            "GB",
            "bbc.co.uk",
            "http://www.bbc.co.uk/news/uk-politics-38512345",
            "Brexit talks",
            ["Ministers met in London .", f"The talks {NOW_GAP} continued late ."],
        ),
    ],
    "text/17-01-ng.txt": [
        (
            "4001",
            "NG",
            "vanguardngr.com",
            "http://www.vanguardngr.com/2017/01/lagos-traffic/",
            "Lagos traffic",
            ["Traffic in Lagos eased on Monday .", "Commuters praised the new bus lanes ."],
        ),
        (
            "4002",
            "NG",
            "punchng.com",
            "http://punchng.com/fuel-prices-fall/",
            "Fuel prices fall",
            ["Fuel prices fell across Nigeria ."],
        ),
    ],
}


def build_now_fixture(root: Path) -> dict:
    """A small NOW corpus in NOW's layout (2 years, 4 countries, gaps, multi-line entries, one entry
    without a sources row). Returns the expected counts and per-textID facts."""
    root = Path(root)
    (root / "text").mkdir(parents=True, exist_ok=True)
    (root / "sources").mkdir(parents=True, exist_ok=True)
    sources: dict[int, list[str]] = {}
    expected = {"entries": 0, "documents": 0, "missing_source_rows": [], "by_text_id": {}, "gaps": 0}
    for rel, articles in _NOW_ARTICLES.items():
        year = 2000 + int(Path(rel).name[:2])
        chunks = []
        for index, (text_id, country, website, url, title, paragraphs) in enumerate(articles):
            # NOW puts a heading mark before the title and <p> before each paragraph; the second
            # paragraph goes on its own line so an entry spans lines.
            body = f"@@{text_id} <h> {title or 'Untitled'} <p> {paragraphs[0]}"
            for paragraph in paragraphs[1:]:
                body += f"\n<p> {paragraph}"
            chunks.append(body)
            expected["entries"] += 1
            expected["gaps"] += sum(p.count(NOW_GAP) for p in paragraphs)
            if country is None:
                expected["missing_source_rows"].append({"source_file": rel, "source_row": index, "text_id": text_id})
                continue
            expected["documents"] += 1
            day = f"{str(year)[2:]}-{Path(rel).name[3:5]}-{index + 1:02d}"
            words = sum(len(p.split()) for p in paragraphs)
            sources.setdefault(year, []).append("\t".join([text_id, str(words), day, country, website, url, title]))
            expected["by_text_id"][text_id] = {
                "source_file": rel,
                "source_row": index,
                "country": country,
                "url": url,
                "title": title,
                "date": day,
                "paragraphs": [title, *paragraphs],
                "has_gap": any(NOW_GAP in p for p in paragraphs),
            }
        (root / rel).write_text("\n".join(chunks) + "\n", encoding="utf-8")
    for year, rows in sources.items():
        # real sources files start with a header and blank/rule lines
        header = "textID\t#words\tdate\tcountry\twebsite\turl\ttitle\n\n-----\t-----\n"
        (root / "sources" / f"{year}-sources.txt").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    expected["years"] = sorted(sources)
    expected["countries"] = sorted({v["country"] for v in expected["by_text_id"].values()})
    return expected


# ---------------------------------------------------------------------------------------------------
# WARC
# ---------------------------------------------------------------------------------------------------
def fundus_pages(shared_dir: Path, limit: int | None = None) -> list[dict]:
    """Real fundus test pages: country folder, file, URL and crawl date (from each folder's meta.info)."""
    root = Path(shared_dir) / "news" / "fundus" / "test_data"
    pages = []
    for info_path in sorted(root.glob("*/meta.info")):
        info = json.loads(info_path.read_text(encoding="utf-8"))
        for file_name in sorted(info):
            html_path = info_path.parent / file_name
            if html_path.is_file():
                pages.append({"country_dir": info_path.parent.name, "path": html_path, **info[file_name]})
    return pages[:limit] if limit is not None else pages


def build_fundus_warc(shared_dir: Path, out_path: Path, limit: int | None = None) -> int:
    """A news WARC of real fundus HTML pages as HTTP 200 response records (after one warcinfo record).
    Returns the number of response records written."""
    from warcio.warcwriter import WARCWriter

    pages = fundus_pages(shared_dir, limit)
    out_path = Path(out_path)
    with open(out_path, "wb") as fh:
        writer = WARCWriter(fh, gzip=out_path.name.endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(out_path.name, {"software": "geocorpus tests"}))
        for page in pages:
            html = gzip.decompress(page["path"].read_bytes())
            writer.write_record(_response_record(writer, page["url"], html, page.get("crawl_date")))
    return len(pages)


def _response_record(writer, url: str, html: bytes, crawl_date: str | None = None, content_type="text/html"):
    from warcio.statusandheaders import StatusAndHeaders

    try:
        html.decode("utf-8")
        content_type += "; charset=utf-8"
    except UnicodeDecodeError:
        pass
    http_headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    when = datetime.fromisoformat(crawl_date) if crawl_date else datetime(2024, 1, 1)
    warc_date = when.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return writer.create_warc_record(
        url,
        "response",
        payload=io.BytesIO(html),
        http_headers=http_headers,
        warc_headers_dict={"WARC-Date": warc_date},
    )


def write_warc_with_bad_record(path: Path) -> dict:
    """An uncompressed WARC: 2 good pages, a record warcio cannot parse, 2 more good pages.
    Returns the expected documents and the bad record's index."""
    from warcio.warcwriter import WARCWriter

    def page(n: int) -> bytes:
        return (
            f"<html><head><title>Story {n}</title></head><body><article><h1>Story {n}</h1>"
            + "".join(
                f"<p>Paragraph {k} of story {n} tells what happened in the city council today.</p>" for k in range(5)
            )
            + "</article></body></html>"
        ).encode()

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False)
    urls = [f"https://news.example.com/story-{n}" for n in range(4)]
    for url in urls[:2]:
        writer.write_record(_response_record(writer, url, page(urls.index(url))))
    # a block that is no WARC record at all: warcio raises ArchiveLoadFailed on it
    bad = b"THIS IS NOT A WARC RECORD\r\nServer: broken-crawler\r\n\r\n<html>lost page</html>\r\n\r\n"
    buffer.write(bad)
    for url in urls[2:]:
        writer.write_record(_response_record(writer, url, page(urls.index(url))))
    Path(path).write_bytes(buffer.getvalue())
    return {"documents": 4, "good_urls": urls, "bad_record_index": 2, "errors": 1}


# ---------------------------------------------------------------------------------------------------
# bad record files
# ---------------------------------------------------------------------------------------------------
def write_broken_jsonl(path: Path) -> dict:
    """Good lines plus one of each bad kind. Returns {"records", "documents", "errors": {row: reason}}."""
    good = lambda n: {"url": f"https://www.thehindu.com/news/article{n}.ece", "title": f"T{n}", "text": f"Story {n}."}  # noqa: E731
    lines: list[tuple[bytes, str | None]] = [
        (json.dumps(good(0)).encode(), None),
        (json.dumps(good(1)).encode(), None),
        (b'{"url": "https://example.com/x", "text": "unterminated', "invalid_json"),
        (json.dumps({"title": "no url", "text": "A story without a URL."}).encode(), None),  # not a read error
        (json.dumps({"url": "https://example.com/notext", "title": "no text"}).encode(), "missing_text"),
        (b'{"url": "https://example.com/latin1", "text": "caf\xe9 au lait"}', "invalid_utf8"),
        (b"[1, 2, 3]", "not_an_object"),
        (json.dumps({"url": "https://example.com/blank", "text": "   "}).encode(), "missing_text"),
        (json.dumps(good(2)).encode(), None),
    ]
    Path(path).write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
    errors = {row: reason for row, (_, reason) in enumerate(lines) if reason}
    return {"records": len(lines), "documents": len(lines) - len(errors), "errors": errors}


def write_broken_tsv(path: Path) -> dict:
    """A TSV with quoted multi-line values, a short row, an invalid-UTF-8 row and an empty text."""
    rows = [
        ("category", "headline", "text", "url"),
        ("politics", "Budget", '"Line one of the story.\nLine two, with a ""quote""."', "/news/uk-1"),
        ("sport", "Short row", None, None),  # only two fields
        ("business", "Caf\udce9", "Bytes that are not UTF-8.", "/news/uk-3"),
        ("health", "No text", "", "/news/uk-4"),
        ("science", "Fine", "A normal story.", "https://www.bbc.com/news/science-5"),
    ]
    out = bytearray()
    for row in rows:
        fields = [f for f in row if f is not None]
        out += "\t".join(fields).encode("utf-8", errors="surrogateescape") + b"\n"
    Path(path).write_bytes(bytes(out))
    errors = {1: "malformed_row", 2: "invalid_utf8", 3: "missing_text"}
    return {"records": len(rows) - 1, "documents": len(rows) - 1 - len(errors), "errors": errors}


def write_truncated_gzip(path: Path, records: int = 300) -> dict:
    """A JSONL.gz cut at 60 % of its compressed size. The expected number of readable lines is the
    number of complete lines zlib can decompress from the cut bytes."""
    import random

    rng = random.Random(7)
    words = [
        "the",
        "council",
        "said",
        "market",
        "rain",
        "police",
        "budget",
        "school",
        "river",
        "farmers",
        "election",
        "minister",
    ]
    lines = [
        json.dumps({"url": f"https://www.example.co.ke/news/{n}", "text": " ".join(rng.choices(words, k=80))})
        for n in range(records)
    ]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = blob[: int(len(blob) * 0.6)]
    Path(path).write_bytes(cut)
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    complete = readable.count(b"\n")
    return {"records_written": records, "documents": complete, "errors": 1, "error_row": complete}


def write_corrupt_parquet(path: Path, rows_per_group: int = 20) -> dict:
    """A Parquet file of two row groups whose second group's text column is overwritten with garbage.
    Returns the rows a reader can still deliver (the first group) and the failing row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"url": f"https://www.dawn.com/news/{n}", "title": f"Story {n}", "text": f"Story {n} from Karachi. " * 40}
        for n in range(2 * rows_per_group)
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer, row_group_size=rows_per_group, compression="zstd")
    data = bytearray(buffer.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(2)  # the text column
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    for position in range(start + 30, start + chunk.total_compressed_size - 8):
        data[position] = 0xAB
    Path(path).write_bytes(bytes(data))
    return {"rows_written": len(rows), "documents": rows_per_group, "errors": 1, "error_row": rows_per_group}


def write_not_parquet(path: Path) -> dict:
    """A file named .parquet that is not Parquet at all: one read-error document, no rows."""
    Path(path).write_bytes(b"this is not a parquet file\n" * 10)
    return {"documents": 0, "errors": 1}
