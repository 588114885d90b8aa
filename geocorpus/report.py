"""What a finished run contains: per-region counts, tag provenance and exclusions, as tables, PNGs and a card.

Read straight from the output folder with duckdb (only small columns), so ``geocorpus stats OUT/``
works on any finished run, including one made on a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from geocorpus.paths import RunLayout

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from geocorpus.config import CurateConfig


def _glob(folder: Path) -> str | None:
    return _file_list(sorted(folder.rglob("*.parquet")) if folder.exists() else [])


def _file_list(files: list[Path]) -> str | None:
    if not files:
        return None
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def collect_stats(out_dir: str | Path, data_files: list[Path] | None = None) -> dict:
    """Counts by country, continent, split, tag source and exclusion reason for a run folder.

    ``data_files``: the corpus files to count (finalize passes the ones it wrote, so a stray file in
    ``data/`` is not counted); default every Parquet file under ``data/``.
    """
    layout = RunLayout(out_dir)
    con = duckdb.connect()
    stats: dict = {
        "countries": [],
        "continents": [],
        "tag_sources": [],
        "splits": {},
        "exclusions": [],
        "conflicts": 0,
    }
    data = _glob(layout.data) if data_files is None else _file_list(sorted(data_files))
    if data:
        src = f"read_parquet({data})"
        stats["countries"] = [
            {"country": c, "country_name": n, "continent": k, "split": s, "documents": d, "tokens": int(t or 0)}
            for c, n, k, s, d, t in _rows(
                con,
                f"select country, any_value(country_name), any_value(continent), split, count(*), sum(n_tokens) "
                f"from {src} group by country, split order by country, split",
            )
        ]
        stats["continents"] = [
            {"continent": k, "split": s, "documents": d, "tokens": int(t or 0)}
            for k, s, d, t in _rows(
                con, f"select continent, split, count(*), sum(n_tokens) from {src} group by 1, 2 order by 1, 2"
            )
        ]
        stats["tag_sources"] = [
            {"tag_source": t, "documents": d}
            for t, d in _rows(con, f"select tag_source, count(*) from {src} group by 1 order by 2 desc, 1")
        ]
        stats["splits"] = dict(_rows(con, f"select split, count(*) from {src} group by 1 order by 1"))
        stats["conflicts"] = _rows(con, f"select count(*) from {src} where tag_conflict is not null")[0][0]
        stats["syndicated"] = _syndicated_pairs(con, src)
    excl = _glob(layout.exclusions)
    if excl:
        stats["exclusions"] = [
            {"stage": st, "reason": r, "documents": d}
            for st, r, d in _rows(
                con,
                f"select stage, reason, count(*) from read_parquet({excl}) group by 1, 2 order by 1, 3 desc, 2",
            )
        ]
    return stats


def _syndicated_pairs(con: duckdb.DuckDBPyConnection, src: str) -> list[dict]:
    """Kept syndicated copies per (country kept, other country the story also ran in); see geocorpus.minhash."""
    try:
        rows = _rows(
            con,
            f"select country, other, count(*) from (select country, unnest(string_split(syndicated_countries, ',')) "
            f"as other from {src} where syndicated) group by 1, 2 order by 3 desc, 1, 2",
        )
    except duckdb.BinderException:  # a corpus written before the syndicated columns existed
        return []
    return [{"country": c, "other_country": o, "documents": d} for c, o, d in rows]


def exclusions_by_stage(stats: dict) -> dict[str, dict[str, int]]:
    """stage -> reason -> documents, from :func:`collect_stats`' exclusion rows."""
    result: dict[str, dict[str, int]] = {}
    for row in stats.get("exclusions", []):
        result.setdefault(row["stage"], {})[row["reason"]] = int(row["documents"])
    return result


def _by(rows: list[dict], key: str, value: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        name = row[key] if row[key] is not None else "none"
        totals[name] = totals.get(name, 0) + int(row[value])
    return totals


def print_stats(stats: dict, console: Console | None = None, reconcile: dict | None = None) -> None:
    """Rich tables: countries, continents, tag sources, exclusion reasons, and the reconcile line."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    splits = sorted(stats.get("splits", {}))
    table = Table(title="Documents and tokens per country")
    for col in ("country", "name", "continent", *[f"docs {s}" for s in splits], "tokens"):
        table.add_column(col, justify="right" if col.startswith(("docs", "tokens")) else "left")
    per_country: dict[str, dict] = {}
    for row in stats.get("countries", []):
        entry = per_country.setdefault(
            row["country"] or "none", {"name": row["country_name"], "continent": row["continent"], "tokens": 0}
        )
        entry[row["split"]] = row["documents"]
        entry["tokens"] += row["tokens"]
    for code, entry in sorted(per_country.items(), key=lambda kv: -sum(kv[1].get(s, 0) for s in splits)):
        table.add_row(
            code,
            entry["name"] or "",
            entry["continent"] or "",
            *[str(entry.get(s, 0)) for s in splits],
            f"{entry['tokens']:,}",
        )
    _show(console, table)
    cont = Table(title="Per continent")
    for col in ("continent", *[f"docs {s}" for s in splits], "tokens"):
        cont.add_column(col)
    per_cont: dict[str, dict] = {}
    for row in stats.get("continents", []):
        entry = per_cont.setdefault(row["continent"] or "none", {"tokens": 0})
        entry[row["split"]] = row["documents"]
        entry["tokens"] += row["tokens"]
    for name, entry in sorted(per_cont.items()):
        cont.add_row(name, *[str(entry.get(s, 0)) for s in splits], f"{entry['tokens']:,}")
    _show(console, cont)
    src = Table(title="Tag sources")
    src.add_column("tag_source")
    src.add_column("documents", justify="right")
    for row in stats.get("tag_sources", []):
        src.add_row(str(row["tag_source"]), str(row["documents"]))
    src.add_row("(with tag_conflict)", str(stats.get("conflicts", 0)))
    _show(console, src)
    ex = Table(title="Exclusions")
    for col in ("stage", "reason", "documents"):
        ex.add_column(col)
    for row in stats.get("exclusions", []):
        ex.add_row(row["stage"], row["reason"], str(row["documents"]))
    _show(console, ex)
    if reconcile:
        style = "bold green" if reconcile["ok"] else "bold red"
        console.print(
            f"[{style}]reconcile: {reconcile['line']} -> {'OK' if reconcile['ok'] else 'MISMATCH'}[/]", soft_wrap=True
        )


def _show(console: Console, table: Table) -> None:
    """A rich table on a terminal; a markdown table otherwise (Slurm and CI logs, pipes), never truncated.

    rich fits a table to its console width and cuts headers and cells to do so; a log file has no width.
    """
    if console.is_terminal:
        console.print(table)
        return
    console.file.write(markdown_table(table) + "\n")


def markdown_table(table: Table) -> str:
    """The table as GitHub markdown: its title as a heading line, then the header and every row in full."""
    columns = table.columns
    rows = [[str(cell) for cell in column.cells] for column in columns]
    header = [str(column.header) for column in columns]
    lines = [f"### {table.title}", ""] if table.title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" if c.justify == "right" else "---" for c in columns) + "|")
    for i in range(table.row_count):
        lines.append("| " + " | ".join(rows[c][i].replace("|", "\\|") for c in range(len(columns))) + " |")
    return "\n".join(lines) + "\n"


def write_plots(stats: dict, plot_dir: str | Path) -> list[Path]:
    """Bar charts (PNG): documents per country by split, per continent, tag sources, exclusion reasons."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def bar(name: str, title: str, series: dict[str, dict[str, int]], ylabel: str = "documents") -> None:
        labels = sorted(
            {k for s in series.values() for k in s}, key=lambda k: -sum(s.get(k, 0) for s in series.values())
        )
        if not labels:
            return
        fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels) + 2), 4.5))
        bottom = [0] * len(labels)
        for label, values in series.items():
            heights = [values.get(k, 0) for k in labels]
            ax.bar(labels, heights, bottom=bottom, label=label)
            bottom = [b + h for b, h in zip(bottom, heights)]
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", rotation=60)
        if len(series) > 1:
            ax.legend()
        fig.tight_layout()
        path = plot_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    countries = stats.get("countries", [])
    splits = sorted({r["split"] for r in countries})
    bar(
        "documents_per_country",
        "Documents per country",
        {s: _by([r for r in countries if r["split"] == s], "country", "documents") for s in splits},
    )
    bar(
        "tokens_per_country",
        "Tokens per country (whitespace)",
        {"tokens": _by(countries, "country", "tokens")},
        "tokens",
    )
    continents = stats.get("continents", [])
    bar(
        "documents_per_continent",
        "Documents per continent",
        {s: _by([r for r in continents if r["split"] == s], "continent", "documents") for s in splits},
    )
    bar(
        "tag_sources",
        "Where each country tag came from",
        {"documents": _by(stats.get("tag_sources", []), "tag_source", "documents")},
    )
    excl = stats.get("exclusions", [])
    bar(
        "exclusions",
        "Excluded documents by reason",
        {
            st: {r["reason"]: r["documents"] for r in excl if r["stage"] == st}
            for st in sorted({r["stage"] for r in excl})
        },
    )
    return written


#: The held-out split's name on the Hub (``datasets`` knows train/validation/test).
HUB_SPLIT_NAMES = {"train": "train", "eval": "validation", "validation": "validation"}
SEED_PAPER_BIBTEX = """@article{mukherjee2026metadata,
  title   = {Metadata Conditioned Large Language Models for Localization},
  author  = {Mukherjee and Zhu and Anastasopoulos},
  year    = {2026}
}"""


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` examples."""
    if n < 1000:
        return "n<1K"
    bounds = [(10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M")]
    bounds += [(10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B")]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1T"


def card_header(config: CurateConfig, stats: dict, split_globs: dict[str, str]) -> dict[str, Any]:
    """The card's YAML header: what the Hub shows and ``datasets.load_dataset`` reads (only existing splits)."""
    card = config.card
    language = card.language or (list(config.filters.language.languages) if config.filters.language else [])
    total = sum(int(n) for n in stats.get("splits", {}).values())
    header: dict[str, Any] = {
        "pretty_name": card.pretty_name or config.name,
        "license": card.license,
        "language": language or ["en"],
        "task_categories": ["text-generation"],
        "size_categories": [size_category(total)],
        "source_datasets": card.source_datasets or [spec.name for spec in config.inputs],
        "tags": ["geocorpus", "news", "localization", "metadata-conditioning"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": HUB_SPLIT_NAMES.get(s, s), "path": g} for s, g in split_globs.items()],
            }
        ],
    }
    return header


def write_dataset_card(out_dir: Path, config: CurateConfig, stats: dict, reconcile: dict) -> Path:
    """README.md in the output folder: a Hugging Face dataset card with the counts and provenance.

    Its header lists only splits whose files exist (a run that kept nothing lists none), so the card
    never points ``load_dataset`` at missing files.
    """
    from importlib.metadata import PackageNotFoundError, version

    import yaml

    try:
        made_with = f"geocorpus {version('geocorpus')}"
    except PackageNotFoundError:
        made_with = "geocorpus"
    layout = RunLayout(out_dir)
    ordered = sorted(stats.get("splits", {}), key=lambda s: (s != "train", s))  # train first, as on the Hub
    split_globs = {split: f"data/{split}-*.parquet" for split in ordered if layout.split_files(split)}
    countries = _by(stats.get("countries", []), "country", "documents")
    hub_splits = {HUB_SPLIT_NAMES.get(s, s): n for s, n in stats.get("splits", {}).items() if s in split_globs}
    header = yaml.safe_dump(card_header(config, stats, split_globs), sort_keys=False, allow_unicode=True)
    lines = [
        "---",
        header.rstrip("\n"),
        "---",
        "",
        f"# {config.card.pretty_name or config.name}",
        "",
        f"A region-tagged news corpus built with {made_with} for metadata-conditioned "
        "pretraining: every document carries its verified, normalized URL, an ISO 3166-1 country, a "
        f"continent (`{config.tagging.continent_scheme}` scheme) and the provenance of that tag "
        "(`tag_source`, `tag_conflict`).",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        "corpus = load_dataset(PATH_OR_REPO_ID)  # splits: " + ", ".join(hub_splits),
        "```",
        "",
        "## Counts",
        "",
        f"- {reconcile['line']} ({'reconciled' if reconcile['ok'] else 'NOT reconciled'})",
        f"- splits: {json.dumps(hub_splits, sort_keys=True)}",
        f"- documents with conflicting tag evidence: {stats.get('conflicts', 0)}",
        "",
        "| country | documents |",
        "| --- | ---: |",
        *[f"| {c} | {n} |" for c, n in sorted(countries.items(), key=lambda kv: -kv[1])],
        "",
        "| tag source | documents |",
        "| --- | ---: |",
        *[f"| {r['tag_source']} | {r['documents']} |" for r in stats.get("tag_sources", [])],
        "",
        "## Files",
        "",
        *[f"- `{g}`: the {HUB_SPLIT_NAMES.get(s, s)} split" for s, g in split_globs.items()],
        *([] if split_globs else ["- no corpus files: the run kept no documents (see `exclusions/`)"]),
        "- `exclusions/<stage>/*.parquet`: every dropped document with its stage and reason",
        "- `manifest.json`: config, input fingerprints, package versions, counts",
        "- `report.json`, `plots/*.png`: the statistics shown by `geocorpus stats`",
        "",
        "## Licence and use",
        "",
        f"Declared licence: `{config.card.license}`. The texts belong to their publishers; this card "
        "describes a derived research corpus. Check the terms of every source before redistribution.",
        "",
        "## Citation",
        "",
        "The metadata-conditioning setting this corpus is built for:",
        "",
        "```bibtex",
        SEED_PAPER_BIBTEX,
        "```",
        "",
    ]
    path = RunLayout(out_dir).card
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
