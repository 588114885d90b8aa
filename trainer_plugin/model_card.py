"""The final ``model/`` folder of a run: weights, tokenizer and a card saying what they were trained on.

A model folder must stand on its own: evaluation, merging and ``init_from`` read it without the
training config, and a reader of the card should learn the condition, the corpus (by fingerprint),
the steps and the tokens seen without the run's logs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def model_card(info: dict[str, Any], config: dict[str, Any]) -> str:
    """Markdown with a YAML header (Hugging Face model-card style)."""
    header = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["geocorpus", f"condition:{info['condition']}"],
    }
    rows = [
        ("condition", f"`{info['condition']}`: {info.get('condition_description', '')}"),
        ("metadata prefix", ", ".join(info.get("metadata", [])) or "none"),
        ("corpus fingerprint", f"`{info['corpus_fingerprint']}` ({info['num_documents']:,} documents)"),
        ("tokenizer fingerprint", f"`{info['tokenizer_fingerprint']}`"),
        ("steps", f"{info['global_step']:,}"),
        ("tokens seen", f"{info['tokens_seen']:,} ({info['tokens_per_step']:,} per step, padding included)"),
        ("sequence length", f"{info['seq_len']} (document isolation: {info['document_isolation']})"),
        ("final logged loss", f"{info['final_loss']:.4f}" if info.get("final_loss") is not None else "n/a"),
        ("started from", info.get("init_from") or "random initialisation"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n"
        f"# {Path(info['output_dir']).name}\n\n"
        "A causal language model trained with geocorpus's trainer plugin.\n\n"
        f"| | |\n| --- | --- |\n{table}\n\n"
        "## Training config\n\n"
        f"```yaml\n{yaml.safe_dump(config, sort_keys=False)}```\n"
    )


def write_model_folder(trainer: Any, folder: Path, info: dict[str, Any], config: dict[str, Any]) -> Path:
    """Weights and tokenizer (``trainer.save_model``), ``README.md`` and ``training_summary.json``."""
    model = trainer.model
    use_cache = model.config.use_cache
    model.config.use_cache = True  # off only while training (packed-document masks); on for generation
    trainer.save_model(str(folder))
    model.config.use_cache = use_cache
    if trainer.is_world_process_zero():
        (folder / "README.md").write_text(model_card(info, config), encoding="utf-8")
        (folder / "training_summary.json").write_text(json.dumps(info, indent=1, default=str), encoding="utf-8")
    return folder
