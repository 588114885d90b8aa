"""Convert the fwd/news headlines JSON (one array) into JSONL the pipeline's jsonl reader takes.

The source is a single JSON array with ``title``/``link`` (and sometimes ``description``); the
readers stream JSONL, so the run folder gets a converted copy: text = title (+ description), url = link.
"""

from __future__ import annotations

import json
from pathlib import Path


class HeadlinesError(ValueError):
    """The headlines file is not a JSON array of objects with a title and a link."""


def headlines_to_jsonl(source: Path, target: Path) -> int:
    """Write one JSON line per headline to ``target``; returns how many were written.

    Records without a title or a link are skipped (they cannot be tagged or scored); a record that is
    not an object is an error naming its index.
    """
    try:
        records = json.loads(Path(source).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HeadlinesError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(records, list):
        raise HeadlinesError(f"{source}: expected a JSON array of headlines, got {type(records).__name__}")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(target, "w", encoding="utf-8") as out:
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise HeadlinesError(f"{source}: record {index} is {type(record).__name__}, expected an object")
            title = str(record.get("title") or "").strip()
            link = str(record.get("link") or "").strip()
            if not title or not link:
                continue
            description = str(record.get("description") or "").strip()
            text = f"{title}\n\n{description}" if description else title
            row = {"url": link, "title": title, "text": text, "date": record.get("published")}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    return written
