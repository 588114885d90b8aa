"""WARC reader and HTML extraction on real WARCs and a fundus news WARC; unparsable records are reported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from support.input_files import build_fundus_warc, fundus_pages, write_warc_with_bad_record

from geocorpus.readers import ExtractHTML, InputSpec, build_reader_steps, is_read_error


def steps_for(path: Path, exclusion_folder=None, **spec):
    return build_reader_steps(
        InputSpec.from_dict({"name": "warc", "format": "warc", "path": str(path), **spec}), exclusion_folder
    )


def read(path: Path, **spec) -> list:
    return list(steps_for(path, **spec)[0].run(None, 0, 1))


def html_responses(path: Path) -> int:
    """HTTP 200 HTML response records, counted with warcio directly."""
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                content_type = record.http_headers.get_header("Content-Type") or ""
                count += content_type.startswith(("text/html", "application/xhtml+xml"))
    return count


@pytest.fixture(scope="module")
def fundus_warc(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("warc") / "fundus.warc.gz"
    return path, build_fundus_warc(shared_data, path)


def test_fundus_warc_every_page_is_a_document(fundus_warc, shared_data):
    path, written = fundus_warc
    docs = read(path)
    assert not any(is_read_error(d) for d in docs)
    assert len(docs) == written == len(fundus_pages(shared_data))
    assert [d.metadata["url"] for d in docs] == [p["url"] for p in fundus_pages(shared_data)]
    assert [d.metadata["source_row"] for d in docs] == list(range(1, written + 1))  # record 0 is warcinfo
    assert all(d.metadata["needs_extraction"] and d.text.lstrip().startswith("<") for d in docs)
    assert all(d.metadata["date"].endswith("Z") for d in docs)


def test_extraction_only_touches_warc_documents(fundus_warc, shared_data):
    from datatrove.data import Document

    path, _ = fundus_warc
    docs = list(steps_for(path, limit=30)[0].run(None, 0, 1))
    other = Document(text="<p>not html to extract</p>", id="x/1", metadata={"url": "https://a.b"})
    kept = list(ExtractHTML().run(iter([other, *docs]), 0, 1))
    assert kept[0] is other and other.text == "<p>not html to extract</p>"
    extracted = kept[1:]
    assert len(extracted) >= 0.8 * len(docs)
    assert sum(bool(d.metadata.get("title")) for d in extracted) >= 0.9 * len(extracted)  # trafilatura's title
    articles = {a["url"]: a for a in map(json.loads, (shared_data / "news/fundus/fundus_articles.jsonl").open())}
    for doc in extracted:
        assert "needs_extraction" not in doc.metadata and "<html" not in doc.text.lower()
        reference = articles.get(doc.metadata["url"])
        if reference:  # the extraction shares words with fundus's own parse of the same page
            words = set(reference["text"].split()[:200])
            assert len(words & set(doc.text.split())) >= 0.3 * len(words)


def test_failed_extractions_go_to_exclusions(tmp_path):
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "empty.warc"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        for n, html in enumerate(
            [b"<html><body><script>var a=1;</script></body></html>", b"<html><head></head><body> </body></html>"]
        ):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    f"https://e.example/{n}", "response", payload=io.BytesIO(html), http_headers=headers
                )
            )
    reader, extract = steps_for(path, exclusion_folder=str(tmp_path / "excl"))
    kept = list(extract.run(reader.run(None, 0, 1), 0, 1))
    assert kept == []
    excluded = pl.read_parquet(tmp_path / "excl" / "extract_html" / "warc" / "*.parquet")
    assert excluded["reason"].to_list() == ["extraction_empty", "extraction_empty"]
    assert set(excluded["stage"]) == {"extract_html"}


@pytest.mark.parametrize(
    "name", ["dolma-sample-0000.warc.gz", "dolma-sample-0001.warc.gz", "resiliparse-warcfile.warc.gz"]
)
def test_real_warcs_every_html_response_is_read(shared_data, name):
    path = shared_data / "warc" / name
    docs = read(path)
    assert not any(is_read_error(d) for d in docs)
    assert len(docs) == html_responses(path) > 0


def test_clueweb_quirk_file(shared_data):
    """datatrove's WarcReader yields nothing here (empty WARC-Identified-Payload-Type); we read every page."""
    from datatrove.pipeline.readers import WarcReader
    from warcio.archiveiterator import ArchiveIterator

    path = shared_data / "warc" / "resiliparse-clueweb-quirk.warc.gz"
    with open(path, "rb") as fh:
        responses = sum(r.rec_type == "response" for r in ArchiveIterator(fh))
    assert list(WarcReader(str(path.parent), glob_pattern=path.name).run(None, 0, 1)) == []
    docs = read(path)
    assert len(docs) == responses > 0 and not any(is_read_error(d) for d in docs)
    assert all("charset=euc-jp" in d.text[:2000].lower() or "<html" in d.text[:200].lower() for d in docs)
    assert "�" not in docs[0].text[:500]  # decoded with the declared EUC-JP, not mangled


@pytest.mark.parametrize("compress", [False, True])
def test_unparsable_record_is_reported_and_reading_resumes(tmp_path, compress):
    path = tmp_path / "bad.warc"
    expected = write_warc_with_bad_record(path)
    if compress:
        path = path.rename(tmp_path / "bad.warc.raw")
        (tmp_path / "bad.warc.gz").write_bytes(gzip.compress(path.read_bytes()))
        path = tmp_path / "bad.warc.gz"
    docs = read(path)
    good = [d for d in docs if not is_read_error(d)]
    errors = [d for d in docs if is_read_error(d)]
    assert [d.metadata["url"] for d in good] == expected["good_urls"]
    assert [(e.metadata["read_error"], e.metadata["source_row"]) for e in errors] == [
        ("warc_format_error", expected["bad_record_index"])
    ]
    assert path.name in errors[0].metadata["read_error_detail"]
    assert f"record {expected['bad_record_index']}" in errors[0].metadata["read_error_detail"]


def test_truncated_warc_gz_keeps_earlier_records(fundus_warc, tmp_path):
    path, written = fundus_warc
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    docs = read(cut)
    good = [d for d in docs if not is_read_error(d)]
    errors = [d for d in docs if is_read_error(d)]
    assert 0 < len(good) < written
    assert len(errors) == 1 and errors[0].metadata["read_error"] == "truncated_warc"
    assert "cut.warc.gz" in errors[0].metadata["read_error_detail"]
