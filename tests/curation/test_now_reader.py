"""NOW corpus reader: entries joined to per-year sources, gaps handled per policy, nothing lost."""

from __future__ import annotations

import pytest
from support.input_files import NOW_GAP, build_now_fixture

from geocorpus.readers import InputSpec, NowReader, build_reader_steps, is_read_error
from geocorpus.readers.now import GAP_MARKER, clean_now_text, parse_sources_line
from geocorpus.writers import INPUT_COUNTRY_KEY


@pytest.fixture()
def now_root(tmp_path):
    root = tmp_path / "now"
    return root, build_now_fixture(root)


def read(root, rank=0, world_size=1, **spec):
    (reader,) = build_reader_steps(InputSpec.from_dict({"name": "now", "format": "now", "path": str(root), **spec}))
    return reader, list(reader.run(None, rank, world_size))


def test_every_entry_is_a_document_or_a_missing_source_error(now_root):
    root, expected = now_root
    _, docs = read(root)
    good = [d for d in docs if not is_read_error(d)]
    errors = [d for d in docs if is_read_error(d)]
    assert len(docs) == expected["entries"]
    assert len(good) == expected["documents"]
    assert [
        {
            "source_file": e.metadata["source_file"],
            "source_row": e.metadata["source_row"],
            "text_id": e.metadata["now_text_id"],
        }
        for e in errors
    ] == expected["missing_source_rows"]
    assert all(e.metadata["read_error"] == "missing_source_row" for e in errors)
    assert all(e.metadata["source_file"] in e.metadata["read_error_detail"] for e in errors)


def test_sources_join_and_paragraphs(now_root):
    root, expected = now_root
    _, docs = read(root)
    for doc in (d for d in docs if not is_read_error(d)):
        facts = expected["by_text_id"][doc.metadata["now_text_id"]]
        assert doc.metadata["url"] == facts["url"]
        assert doc.metadata["title"] == facts["title"]
        assert doc.metadata["date"] == facts["date"]
        assert doc.metadata[INPUT_COUNTRY_KEY] == facts["country"]
        assert (doc.metadata["source_file"], doc.metadata["source_row"]) == (facts["source_file"], facts["source_row"])
        assert doc.id == f"now/{facts['source_file']}/{facts['source_row']}"
        paragraphs = doc.text.split("\n\n")
        assert len(paragraphs) == len(facts["paragraphs"])  # <h>/<p> marks became paragraph breaks
        assert "<p>" not in doc.text and "<h>" not in doc.text and "@" not in doc.text
    assert sorted({d.metadata[INPUT_COUNTRY_KEY] for d in docs if not is_read_error(d)}) == expected["countries"]


@pytest.mark.parametrize("policy", ["drop", "marker", "keep"])
def test_gap_policies(now_root, policy):
    root, expected = now_root
    _, docs = read(root, now_gaps=policy)
    text = "\n".join(d.text for d in docs if not is_read_error(d))
    counts = {"drop": (0, 0), "marker": (expected["gaps"], 0), "keep": (0, expected["gaps"])}[policy]
    assert (text.count(GAP_MARKER), text.count(NOW_GAP)) == counts


def test_clean_now_text_units():
    assert clean_now_text("<h> Title <p> One @ @ @ two .\n<p> Three", "drop") == "Title\n\nOne two .\n\nThree"
    assert clean_now_text("a @ @ @ @ b", "marker") == f"a {GAP_MARKER} b"
    assert clean_now_text("email me @ home", "drop") == "email me @ home"  # a lone @ is not a gap
    assert parse_sources_line("textID\t#words\tdate\tcountry\twebsite\turl\ttitle") is None
    assert parse_sources_line("\n") is None
    row = parse_sources_line("17\t300\t16-01-02\tGH\tmyjoyonline.com\thttp://myjoyonline.com/a\tA\ttitle\n")
    assert (row.text_id, row.country, row.title) == ("17", "GH", "A\ttitle")


def test_sources_loaded_lazily_per_year_and_evicted(now_root):
    root, expected = now_root
    reader = NowReader(str(root), "now", glob_pattern="text/16-*.txt", years_cached=1)
    list(reader.run(None, 0, 1))
    assert list(reader._sources) == [2016]  # 2017 never loaded
    reader.glob_pattern = "text/17-*.txt"
    list(reader.run(None, 0, 1))
    assert list(reader._sources) == [2017]  # 2016 evicted


def test_missing_sources_file_makes_every_entry_an_error(now_root):
    root, expected = now_root
    (root / "sources" / "2017-sources.txt").unlink()
    _, docs = read(root)
    from_2017 = [d for d in docs if d.metadata["source_file"].startswith("text/17-")]
    assert from_2017 and all(d.metadata["read_error"] == "missing_source_row" for d in from_2017)
    assert all("file absent" in d.metadata["read_error_detail"] for d in from_2017)
    assert len(docs) == expected["entries"]


def test_two_ranks_split_files_without_overlap(now_root):
    root, expected = now_root
    ids = [d.id for rank in range(2) for d in read(root, rank, 2)[1]]
    assert len(ids) == len(set(ids)) == expected["entries"]


def test_text_before_first_entry_and_invalid_utf8_are_errors(now_root):
    root, expected = now_root
    path = root / "text" / "17-01-gb.txt"
    path.write_bytes(b"stray preamble line\n" + path.read_bytes() + b"@@3002 <p> caf\xe9\n")
    _, docs = read(root)
    errors = {(d.metadata["source_file"], d.metadata["read_error"]) for d in docs if is_read_error(d)}
    assert ("text/17-01-gb.txt", "malformed_row") in errors and ("text/17-01-gb.txt", "invalid_utf8") in errors
    assert len(docs) == expected["entries"] + 2
