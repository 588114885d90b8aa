"""Multiple-choice prompt protocols by name, with the paper's strings copied verbatim.

``paper``  the prompt of ``14_sft_eval.py`` (iamshnoo/metadata_localization, ``src_live/``): a metadata
           block ``URL:``/``COUNTRY:``/``CONTINENT:``/``TITLE: Facts about the country {cc}``/``CONTENT:``
           (l.425-433; without metadata the prompt starts at ``CONTENT:``, l.732), then ``Question:``,
           ``Options:`` with ``A: ...`` lines and the answer instruction (l.340-383), ending in one newline
           (l.747). Each option's text is scored as the continuation `` {option}`` (l.750-758) by its
           log-likelihood per token (``option_text_avg``, l.100-104), or divided by n_tokens**alpha
           (``--length-norm-alpha``, l.796-801), minus beta times a null-question score (l.853-869).
``letter`` the same prompt with the letter instruction (l.343-344); the letters `` A`` .. `` D`` are
           scored (``option_letter``, l.756-757).
``cloze``  lm-evaluation-harness style: ``[metadata lines]Question: {q}\\nAnswer:`` and each option as
           the continuation, options never listed; what geocorpus measured before protocols existed.

Option order is shuffled by default with the paper's own permutation (l.539-582: SHA-1 of the
seed and the item's key seeds ``random.Random``), because the shared 800 MCQs list the correct
answer first in 780 of 800 questions: without shuffling, "always pick A" scores 97.5%.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.question_metadata import QuestionMetadata

PROTOCOLS = ("paper", "letter", "cloze")
#: The decision rule each protocol reports first (and plots by default).
PRIMARY_RULE = {"paper": "acc_norm_tokens", "letter": "acc", "cloze": "acc_norm"}
#: ``--answer-cue-style`` strings of 14_sft_eval.py (l.351-358) that need no country name.
ANSWER_CUES = {"none": "", "answer_colon": "\n\nAnswer:", "final_answer_colon": "\n\nFinal answer:"}
OPTION_INSTRUCTION = "Answer with the correct option."  # l.349
EXACT_OPTION_INSTRUCTION = "Answer with the exact text of the correct option."  # l.347
LETTER_INSTRUCTION = "Answer with only the correct option letter (A, B, C, or D)."  # l.344
CLOZE_FORMAT = "Question: {question}\nAnswer:"
#: ``--null-calibration-mode`` choices (l.111-116) and the masked question text (l.123-126).
CALIBRATIONS = ("none", "question_masked", "question_masked_no_metadata")
NULL_QUESTION = "N/A"
#: The paper's default ``--option-shuffle-seed`` (l.96).
PAPER_SHUFFLE_SEED = 42
#: Row fields the paper joins into an item's key (``build_example_key``, l.539-556).
KEY_FIELDS = (
    "question",
    "options",
    "correct_answer",
    "target_answer",
    "contrast_answer",
    "country",
    "target_country",
    "contrast_country",
    "continent",
    "generated_by",
    "split_family",
    "split_type",
    "year",
    "topic",
)


def example_key(row: Mapping[str, Any]) -> str:
    """The paper's ``build_example_key`` of a raw QA row (missing or null fields count as '')."""

    def text(name: str) -> str:
        value = row.get(name)
        if name == "options":
            return json.dumps(list(value) if value is not None else [], ensure_ascii=False)
        return "" if value is None else str(value)

    return "||".join(text(name) for name in KEY_FIELDS)


def option_order(key: str, n_options: int, seed: int | None) -> tuple[int, ...]:
    """Shown position -> original option index; the identity when ``seed`` is None (l.571-582)."""
    order = list(range(n_options))
    if seed is None:
        return tuple(order)
    digest = hashlib.sha1(f"{seed}||{key}||option-shuffle".encode()).hexdigest()
    random.Random(int(digest[:16], 16)).shuffle(order)
    return tuple(order)


def letter_instruction(n_options: int) -> str:
    """The paper's letter instruction; for other than four options the letter list follows the count."""
    if n_options == 4:
        return LETTER_INSTRUCTION
    letters = [chr(65 + i) for i in range(n_options)]
    listed = letters[0] if n_options == 1 else ", ".join(letters[:-1]) + ", or " + letters[-1]
    return f"Answer with only the correct option letter ({listed})."


@dataclass(frozen=True)
class Protocol:
    """How a question is put to the model and how its options are compared."""

    name: str = "paper"
    metadata: QuestionMetadata = field(default_factory=QuestionMetadata)
    answer_cue: str = "answer_colon"
    exact_option_text: bool = False
    shuffle_seed: int | None = PAPER_SHUFFLE_SEED
    length_alpha: float = 1.0
    calibration: str = "none"
    calibration_beta: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise EvaluationError(f"unknown protocol {self.name!r}; choose one of {', '.join(PROTOCOLS)}")
        if self.answer_cue not in ANSWER_CUES:
            raise EvaluationError(f"unknown answer cue {self.answer_cue!r}; choose one of {', '.join(ANSWER_CUES)}")
        if self.calibration not in CALIBRATIONS:
            raise EvaluationError(f"unknown calibration {self.calibration!r}; choose one of {', '.join(CALIBRATIONS)}")

    @property
    def primary_rule(self) -> str:
        return PRIMARY_RULE[self.name]

    def _paper_block(self, country: str, continent: str, with_metadata: bool) -> str:
        lines = self.metadata.lines(country, continent) if with_metadata else []
        if not lines:
            return "CONTENT:\n"  # l.732: the no-metadata prompt starts at CONTENT:
        title = f"TITLE: Facts about the country {country.lower()}\n\n" if "country" in self.metadata.fields else ""
        return "\n".join(lines) + "\n\n" + title + "CONTENT:\n"

    def context(
        self,
        question: str,
        shown_options: Sequence[str],
        country: str,
        continent: str,
        with_metadata: bool = True,
    ) -> str:
        """The text every candidate continues."""
        if self.name == "cloze":
            prefix = self.metadata.prefix(country, continent) if with_metadata else ""
            return prefix + CLOZE_FORMAT.format(question=question)
        options_block = "\n".join(f"{chr(65 + i)}: {option}" for i, option in enumerate(shown_options))
        if self.name == "letter":
            instruction = letter_instruction(len(shown_options))
        else:
            instruction = EXACT_OPTION_INSTRUCTION if self.exact_option_text else OPTION_INSTRUCTION
        content = (
            f"Question: {question.strip()}\n\nOptions:\n{options_block}\n\n{instruction}{ANSWER_CUES[self.answer_cue]}"
        )
        user = self._paper_block(country, continent, with_metadata) + content
        return user.rstrip() + "\n"  # render_prompt without a chat template, l.746-747

    def candidates(self, shown_options: Sequence[str]) -> list[str]:
        """Scored continuations in shown order: `` {option}`` or the letters `` A`` .. ."""
        if self.name == "letter":
            return [" " + chr(65 + i) for i in range(len(shown_options))]
        return [" " + option.strip() for option in shown_options]

    def calibration_context(
        self, shown_options: Sequence[str], country: str, continent: str, with_metadata: bool = True
    ) -> str | None:
        """The null prompt (question replaced by ``N/A``) whose scores are subtracted; None when off."""
        if self.calibration == "none":
            return None
        keep_metadata = with_metadata and self.calibration == "question_masked"
        return self.context(NULL_QUESTION, shown_options, country, continent, keep_metadata)

    def describe(self) -> dict[str, Any]:
        """Plain settings for results.json."""
        return {
            "protocol": self.name,
            "question_metadata": self.metadata.level,
            "base_url": self.metadata.base_url if self.metadata.outlets is None else None,
            "outlets": dict(self.metadata.outlets) if self.metadata.outlets is not None else None,
            "answer_cue": self.answer_cue,
            "exact_option_text": self.exact_option_text,
            "shuffle_seed": self.shuffle_seed,
            "length_alpha": self.length_alpha,
            "calibration": self.calibration,
            "calibration_beta": self.calibration_beta,
            "primary_rule": self.primary_rule,
        }


#: The default: the paper's prompt, full question metadata, options shuffled with the paper's seed.
PAPER_PROTOCOL = Protocol()
