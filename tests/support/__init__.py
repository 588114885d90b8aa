"""Builders shared by the tests, one module per kind of thing they build (importable as ``support.xxx``).

- ``input_files``: curation inputs on disk (a NOW corpus, a fundus WARC, broken, truncated and corrupt files);
- ``curation_runs``: English corpora with real news URLs and curation config dicts for whole runs;
- ``tagged_corpus``: tagged CORPUS_SCHEMA rows and Parquet, as the curation pipeline writes them;
- ``tiny_models``: seeded tiny Llama models and a few training steps on given texts.

Fixtures are not defined here: they live in the ``conftest.py`` files.
"""
