"""Mutation testing of the core modules: do the tests fail when the code is wrong?

Why our own and not mutmut: mutmut 3 first runs the whole suite (~20 min here) to map tests to
functions and rewrites every module with trampolines, which the end-to-end tests' subprocesses
(datatrove's forkserver workers, the ``geocorpus`` CLI) do not see. This script instead writes each
mutant as a plain file into a private copy of the working tree, so subprocesses import it too, and
runs only the tests mapped to that module, ``-x`` (stop at the first failure), under ``nice -n 19``.

Mutants (one change each, from the AST): arithmetic operators (``+`` <-> ``-``, ``*`` <-> ``/`` ...),
augmented assignments, comparisons and boundaries (``<`` <-> ``<=``, ``==`` <-> ``!=``, ``in`` <->
``not in``, ``is`` <-> ``is not``), ``and`` <-> ``or``, negation (``not x`` -> ``not not x``, ``-x`` ->
``+x``), constants (``True`` <-> ``False``, numbers n -> n + 1) and dropped calls (a call statement
becomes ``None``). Not mutated: strings (messages), docstrings, annotations, ``if TYPE_CHECKING``
blocks, ``__all__``, logging calls, and lines marked ``# pragma: no mutate``.

A mutant is *killed* when its tests fail, error or time out (3x the clean run + 30 s), *survived*
when they pass. With ``--skip-uncovered`` (on for modules whose tests run it in-process), a mutant on
a line the clean run never executed is counted as survived without running it (it cannot change
anything those tests see).

Speed: a fork server imports the heavy third-party packages (torch, transformers, polars, datatrove)
once; each mutant's tests run in a fork of it, so only geocorpus itself is imported per mutant.

Usage (from the repository root)::

    .venv/bin/python .ci/mutation.py --list                      # modules, tests, mutant counts
    .venv/bin/python .ci/mutation.py urls tagging                # full run of two modules
    .venv/bin/python .ci/mutation.py --sample 60 --seed 0        # 60 random mutants per module
    .venv/bin/python .ci/mutation.py merge --before              # only the tests that predate issue 18
    .venv/bin/python .ci/mutation.py merge --survivors-of DIR    # DIR's sample: survivors again, kills kept
    .venv/bin/python .ci/mutation.py urls --show 17              # print mutant 17 as a diff

Results go to ``--out`` (default ``geocorpus-mutation`` in the temporary folder): one JSON per module with every mutant,
and a summary table on stdout. See docs/testing.md for the scores and the surviving mutants.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import difflib
import json
import os
import random
import shutil
import signal
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """A module under mutation and the tests that must catch a change in it."""

    path: str
    #: the tests there were when issue 18 was filed (``--before`` runs only these)
    tests: tuple[str, ...]
    #: tests added since (by issue 18, and by other engineers' work on the same modules)
    added: tuple[str, ...] = ()
    #: the mapped tests run this module in the pytest process (coverage can skip unexecuted lines)
    in_process: bool = True
    #: test ids left out (slow end-to-end tests whose subject is another module)
    deselect: tuple[str, ...] = ()


#: a whole curation run (~40 s) whose subject is exact dedup; url_key has unit tests of its own
SLOW_DEDUP_TEST = (
    "tests/curation/test_shortlinks_and_url_key.py::test_exact_dedup_drops_one_article_under_two_url_spellings"
)

#: Fastest and most direct tests first: with -x, a killed mutant stops at its first failing test.
MODULES: dict[str, Target] = {
    "urls": Target(
        "geocorpus/urls.py",
        ("tests/curation/test_urls.py",),
        (
            "tests/curation/test_url_boundaries.py",
            "tests/curation/test_shortlinks_and_url_key.py",
        ),
        deselect=(SLOW_DEDUP_TEST,),
    ),
    "tagging": Target(
        "geocorpus/tagging.py",
        ("tests/curation/test_tagging.py", "tests/curation/test_regions.py"),
        (
            "tests/curation/test_tagging_edges.py",
            "tests/curation/test_tagging_cache.py",
            "tests/curation/test_shortlinks_and_url_key.py",
            "tests/curation/test_country_classifier.py",
            "tests/curation/test_page_evidence.py",
            "tests/curation/test_wiring.py::test_configured_precedence_decides_the_tags_of_the_tag_stage",
        ),
        deselect=(
            SLOW_DEDUP_TEST,
            # whole runs and model training (~30-70 s each); the tagger's part has faster tests of its own
            "tests/curation/test_page_evidence.py::test_warc_run_tags_from_trusted_page_signals_and_resolves_shortlinks",
            "tests/curation/test_country_classifier.py::test_cli_trains_from_a_tagged_corpus_and_tag_region_loads_it",
            "tests/curation/test_country_classifier.py::test_training_is_deterministic",
        ),
    ),
    "balance": Target(
        "geocorpus/finalize/balance.py",
        ("tests/curation/test_balance.py",),
        ("tests/curation/test_balance_edges.py",),
    ),
    "packing": Target(
        "trainer_plugin/packing.py",
        ("tests/training/test_dataset.py", "tests/training/test_isolation.py"),
        (
            "tests/training/test_dataset_masking.py",
            "tests/training/test_packing_edges.py",
            "tests/training/test_packing_stream.py",
        ),
    ),
    "scoring": Target(
        "trainer_plugin/evaluation/scoring.py",
        ("tests/evaluation/test_perplexity.py", "tests/evaluation/test_mcq.py"),
        (
            "tests/evaluation/test_mcq_answers.py",
            "tests/evaluation/test_scoring_edges.py",
            "tests/evaluation/test_scoring_progress.py",
        ),
    ),
    "merge": Target(
        "trainer_plugin/evaluation/merge.py",
        ("tests/evaluation/test_merge.py",),
        ("tests/evaluation/test_merge_edges.py",),
    ),
    # being reworked by the finalize engineer: run it last
    "finalize": Target(
        "geocorpus/finalize/stage.py",
        ("tests/curation/test_manifest.py", "tests/curation/test_pipeline_e2e.py", "tests/reliability/test_faults.py"),
        (
            "tests/curation/test_finalize_task_counts.py",
            "tests/curation/test_finalize_shuffle.py",
            "tests/curation/test_finalize_written.py",
            "tests/reliability/test_reconcile_failures.py",
        ),
        in_process=False,
        # its subject is the tag stage's resume, and its SIGKILL must land while tag tasks still run:
        # under nice 19 on a loaded machine they may all finish first, and the clean run fails
        deselect=(
            "tests/reliability/test_faults.py::test_sigkill_mid_run_then_rerun_keeps_every_document_exactly_once",
        ),
    ),
}

#: Imported once by the fork server; none of them imports geocorpus, trainer_plugin or pipelines.
PRELOAD = ("numpy", "polars", "pyarrow.parquet", "torch", "transformers", "datatrove.pipeline.base", "pytest", "yaml")

_BINOPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitAnd,
}
_CMPOPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_LOGGING = ("logger", "logging", "log")


# --------------------------------------------------------------------------------------------------
# mutants
# --------------------------------------------------------------------------------------------------
@dataclass
class Mutant:
    index: int
    line: int
    kind: str
    before: str
    after: str
    status: str = "pending"  # killed | survived | timeout | uncovered
    seconds: float = 0.0
    detail: str = ""


def _skipped_nodes(tree: ast.Module, source_lines: list[str]) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, TYPE_CHECKING blocks, __all__, logging."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            skip(first)
        if isinstance(node, ast.arg):
            skip(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip(node.returns)
        if isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip(node)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip(node)
        if isinstance(node, ast.Call):
            func = node.func
            owner = func.value if isinstance(func, ast.Attribute) else None
            if isinstance(owner, ast.Name) and owner.id in _LOGGING:
                skip(node)
        if isinstance(node, ast.JoinedStr):
            skip(node)
        line = getattr(node, "lineno", None)
        if line is not None and "pragma: no mutate" in source_lines[line - 1]:
            skip(node)
    return skipped


def _mutations(node: ast.AST) -> list[tuple[str, object]]:
    """(kind, how) for each mutant of this node; ``how`` is interpreted by :func:`_apply`."""
    out: list[tuple[str, object]] = []
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BINOPS:
        out.append(("operator", _BINOPS[type(node.op)]))
    elif isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            if type(op) in _CMPOPS:
                out.append(("comparison", (position, _CMPOPS[type(op)])))
    elif isinstance(node, ast.BoolOp):
        out.append(("boolean", ast.Or if isinstance(node.op, ast.And) else ast.And))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append(("negation", type(node.op)))
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            out.append(("constant", not node.value))
        elif isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            out.append(("constant", node.value + 1))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        out.append(("dropped call", None))
    return out


def _apply(node: ast.AST, kind: str, how: object) -> None:
    if kind == "operator":
        node.op = how()  # type: ignore[attr-defined,operator]
    elif kind == "comparison":
        position, op = how  # type: ignore[misc]
        node.ops[position] = op()  # type: ignore[attr-defined]
    elif kind == "boolean":
        node.op = how()  # type: ignore[attr-defined,operator]
    elif kind == "negation":
        if how is ast.Not:
            node.operand = ast.UnaryOp(op=ast.Not(), operand=node.operand)  # type: ignore[attr-defined]
        else:
            node.op = ast.UAdd()  # type: ignore[attr-defined]
    elif kind == "constant":
        node.value = how  # type: ignore[attr-defined]
    elif kind == "dropped call":
        node.value = ast.Constant(value=None)  # type: ignore[attr-defined]


def _walk(tree: ast.Module) -> list[ast.AST]:
    return list(ast.walk(tree))


def enumerate_mutants(source: str) -> list[tuple[Mutant, int, str, object]]:
    """Every mutant of ``source``: (record, node position in ast.walk order, kind, how)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    skipped = _skipped_nodes(tree, lines)
    found = []
    for position, node in enumerate(_walk(tree)):
        if id(node) in skipped:
            continue
        for kind, how in _mutations(node):
            before = ast.unparse(node)
            changed = copy.deepcopy(node)
            _apply(changed, kind, how)
            after = "None  # call dropped" if kind == "dropped call" else ast.unparse(changed)
            record = Mutant(len(found), getattr(node, "lineno", 0), kind, before[:200], after[:200])
            found.append((record, position, kind, how))
    return found


def mutant_source(source: str, position: int, kind: str, how: object) -> str:
    tree = ast.parse(source)
    _apply(_walk(tree)[position], kind, how)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


# --------------------------------------------------------------------------------------------------
# running tests in a private copy of the tree, from a fork server
# --------------------------------------------------------------------------------------------------
def make_overlay() -> Path:
    """A copy of the working tree (no .git, .venv, caches or run outputs) where mutants are written."""
    root = Path(tempfile.mkdtemp(prefix="geocorpus-mutation-"))
    skip_dirs = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "out", "mutants"}
    tar_path = root.with_suffix(".tar")
    with tarfile.open(tar_path, "w") as tar:
        for item in REPO.iterdir():
            if item.name in skip_dirs:
                continue
            tar.add(item, arcname=item.name, filter=lambda t: None if set(Path(t.name).parts) & skip_dirs else t)
    with tarfile.open(tar_path) as tar:
        tar.extractall(root, filter="data")
    tar_path.unlink()
    return root


def _env(overlay: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(overlay), str(overlay / "tests"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if "GEOCORPUS_SHARED" not in env and (REPO.parent / "shared" / "data").is_dir():
        env["GEOCORPUS_SHARED"] = str(REPO.parent / "shared" / "data")  # the copy has no ../shared beside it
    return env


def run_tests_forked(
    overlay: Path, tests: list[str], timeout: float, coverage_of: Path | None = None
) -> tuple[str, float, str]:
    """Run pytest on ``tests`` in a fork of this process, inside ``overlay``: (status, seconds, detail)."""
    started = time.monotonic()
    handle, name = tempfile.mkstemp(prefix="mutation-", suffix=".txt")
    os.close(handle)
    report = Path(name)
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            os.setsid()  # its own process group: a timeout kills the tests' subprocesses too
            os.nice(19)
            os.environ.clear()
            os.environ.update(_env(overlay))
            os.chdir(overlay)
            sys.path[:0] = [str(overlay), str(overlay / "tests")]
            sys.dont_write_bytecode = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            log = os.open(str(report), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(devnull, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            import pytest

            args = ["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--no-header", "-rfE", *tests]
            cov = None
            if coverage_of is not None:
                import coverage

                cov = coverage.Coverage(data_file=None, include=[str(coverage_of)])
                cov.start()
            code = int(pytest.main(args))
            if cov is not None:
                cov.stop()
                data = cov.get_data()
                lines = sorted(data.lines(str(coverage_of)) or [])
                Path(str(report) + ".lines.json").write_text(json.dumps(lines))
        finally:
            os._exit(code)
    deadline = started + timeout
    status = None
    while status is None:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(wait_status)
            status = "survived" if code == 0 else "killed"
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout"
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    text = report.read_text(errors="replace") if report.exists() else ""
    report.unlink(missing_ok=True)
    lines_file = Path(str(report) + ".lines.json")
    detail = _first_failure(text) if status != "survived" else ""
    if lines_file.exists():
        detail = lines_file.read_text()
        lines_file.unlink()
    return status, seconds, detail


def _first_failure(text: str) -> str:
    for line in text.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            return line[:300]
    return text.strip().splitlines()[-1][:300] if text.strip() else ""


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------
@dataclass
class ModuleResult:
    module: str
    path: str
    tests: list[str]
    total_mutants: int
    run: int = 0
    killed: int = 0
    survived: int = 0
    uncovered: int = 0
    seconds: float = 0.0
    clean_seconds: float = 0.0
    sampled: bool = False
    seed: int | None = None
    mutants: list[dict] = field(default_factory=list)

    @property
    def score(self) -> float:
        decided = self.killed + self.survived + self.uncovered
        return self.killed / decided if decided else float("nan")


def _earlier_sample(
    name: str, folder: Path, mutants: list[tuple[Mutant, int, str, object]], tests: list[str]
) -> tuple[list[tuple[Mutant, int, str, object]], list[dict]]:
    """The earlier run's survivors to run again, and its killed mutants to count as killed.

    A mutant is the same when it makes the same change (kind, before, after); among identical changes
    (``1.0`` -> ``2.0`` in three places) the one at the same index, else the n-th of them, so a sample
    stays the sample when lines move. Kills carry over only when the earlier run's tests are all among
    this run's (``--before`` and then the full mapping): a test that failed then still fails now.
    """
    path = folder / f"{name}.json"
    if not path.is_file():  # a --before run's results
        path = folder / f"{name}-before.json"
    earlier = json.loads(path.read_text())

    def signature(kind: str, before: str, after: str) -> tuple[str, str, str]:
        return (kind, before, after)

    by_signature: dict[tuple[str, str, str], list[tuple[Mutant, int, str, object]]] = {}
    for m in mutants:
        by_signature.setdefault(signature(m[0].kind, m[0].before, m[0].after), []).append(m)
    chosen: list[tuple[Mutant, int, str, object]] = []
    carried: list[dict] = []
    lost = 0
    for old in earlier["mutants"]:
        candidates = by_signature.get(signature(old["kind"], old["before"], old["after"]), [])
        same_index = [m for m in candidates if m[0].index == old["index"]]
        match = same_index[0] if same_index else (candidates.pop(0) if candidates else None)
        if same_index:
            candidates.remove(match)
        if match is None:
            lost += 1
        elif old["status"] in ("survived", "uncovered"):
            chosen.append(match)
        else:
            carried.append(
                {**old, "index": match[0].index, "line": match[0].line, "detail": "killed in the earlier run"}
            )
    subset = set(earlier["tests"]) <= set(tests)
    if not subset:
        print("   the earlier run's tests are not all among these: its kills are not carried over", flush=True)
        chosen += [m for m in mutants if any(m[0].index == c["index"] for c in carried)]
        carried = []
    if lost:
        print(f"   {lost} mutants of the earlier run no longer exist (the module changed)", flush=True)
    return sorted(chosen, key=lambda m: m[0].index), carried


def run_module(name: str, args: argparse.Namespace, overlay: Path) -> ModuleResult:
    target = MODULES[name]
    tests = [t for t in (*target.tests, *([] if args.before else target.added)) if (REPO / t.split("::")[0]).is_file()]
    tests += [arg for test_id in target.deselect for arg in ("--deselect", test_id)]
    # the copy's version: the working tree may change under a long run (others edit it meanwhile)
    source = (overlay / target.path).read_text(encoding="utf-8")
    mutants = enumerate_mutants(source)
    result = ModuleResult(name, target.path, tests, len(mutants))
    chosen = mutants
    carried: list[dict] = []
    if args.survivors_of is not None:
        chosen, carried = _earlier_sample(name, args.survivors_of, mutants, tests)
        result.sampled = True
    elif args.sample and args.sample < len(mutants):
        chosen = sorted(random.Random(f"{args.seed}-{name}").sample(mutants, args.sample), key=lambda m: m[0].index)
        result.sampled = True
        result.seed = args.seed
    for earlier in carried:
        result.killed += 1
        result.mutants.append(earlier)
    destination = overlay / target.path
    destination.write_text(source, encoding="utf-8")
    skip_uncovered = args.skip_uncovered and target.in_process
    more = f" (+{len(carried)} killed in the earlier run)" if carried else ""
    print(
        f"\n== {name}: {target.path}, {len(chosen)}{more} of {len(mutants)} mutants; tests: {' '.join(tests)}",
        flush=True,
    )
    status, clean, detail = run_tests_forked(
        overlay, tests, timeout=args.max_clean, coverage_of=destination if skip_uncovered else None
    )
    if status != "survived":
        raise SystemExit(f"{name}: the tests fail without any mutant ({status}): {detail}")
    covered = set(json.loads(detail)) if skip_uncovered else None
    result.clean_seconds = clean
    timeout = 3 * clean + 30
    print(f"   clean run {clean:.1f} s; per-mutant timeout {timeout:.0f} s", flush=True)
    started = time.monotonic()
    try:
        for number, (mutant, position, kind, how) in enumerate(chosen, start=1):
            if covered is not None and mutant.line not in covered:
                mutant.status = "uncovered"
            else:
                destination.write_text(mutant_source(source, position, kind, how), encoding="utf-8")
                mutant.status, mutant.seconds, mutant.detail = run_tests_forked(overlay, tests, timeout)
            if mutant.status in ("killed", "timeout"):
                result.killed += 1
            elif mutant.status == "uncovered":
                result.uncovered += 1
            else:
                result.survived += 1
            result.run += mutant.status != "uncovered"
            result.mutants.append(asdict(mutant))
            mark = {"killed": ".", "timeout": "T", "survived": "S", "uncovered": "u"}[mutant.status]
            line = f"   [{number}/{len(chosen)}] {mark} #{mutant.index} line {mutant.line} {mutant.kind}: "
            print(line + f"{mutant.before!r} -> {mutant.after!r} ({mutant.seconds:.1f} s)", flush=True)
    finally:
        destination.write_text(source, encoding="utf-8")
    result.seconds = time.monotonic() - started
    return result


def print_summary(results: list[ModuleResult]) -> None:
    print("\nmodule     mutants  run  killed  survived  uncovered  score   minutes")
    for r in results:
        sample = f" (sample of {r.total_mutants})" if r.sampled else ""
        print(
            f"{r.module:<10} {len(r.mutants):>7} {r.run:>4} {r.killed:>7} {r.survived:>9} {r.uncovered:>10}  "
            f"{100 * r.score:5.1f}%  {r.seconds / 60:7.1f}{sample}"
        )
    for r in results:
        survivors = [m for m in r.mutants if m["status"] in ("survived", "uncovered")]
        if survivors:
            print(f"\nsurvivors in {r.path}:")
            for m in survivors:
                print(
                    f"  #{m['index']} line {m['line']} {m['kind']} ({m['status']}): {m['before']!r} -> {m['after']!r}"
                )


def show(name: str, index: int) -> None:
    target = MODULES[name]
    source = (REPO / target.path).read_text(encoding="utf-8")
    mutant, position, kind, how = enumerate_mutants(source)[index]
    original = (ast.unparse(ast.parse(source)) + "\n").splitlines(keepends=True)
    mutated = mutant_source(source, position, kind, how).splitlines(keepends=True)
    sys.stdout.writelines(difflib.unified_diff(original, mutated, target.path, f"{target.path} (mutant {index})", n=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: all, in order): {', '.join(MODULES)}")
    parser.add_argument("--sample", type=int, default=0, help="mutate only N random mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--before", action="store_true", help="only the tests there were when issue 18 was filed")
    parser.add_argument(
        "--survivors-of",
        type=Path,
        metavar="DIR",
        help="the sample of DIR/<module>[-before].json: run its survivors again, count its kills as killed",
    )
    parser.add_argument("--no-skip-uncovered", dest="skip_uncovered", action="store_false")
    parser.add_argument("--max-clean", type=float, default=1200, help="seconds the clean run may take")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "geocorpus-mutation")
    parser.add_argument("--list", action="store_true", help="list modules, their tests and mutant counts")
    parser.add_argument("--show", type=int, metavar="N", help="print mutant N of the (one) module as a diff")
    args = parser.parse_args()
    names = args.modules or list(MODULES)
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {list(MODULES)}")
    if args.show is not None:
        show(names[0], args.show)
        return
    if args.list:
        for name in names:
            t = MODULES[name]
            count = len(enumerate_mutants((REPO / t.path).read_text(encoding="utf-8")))
            print(f"{name:<9} {t.path:<40} {count:>5} mutants  tests: {' '.join(t.tests + t.added)}")
        return
    for module in PRELOAD:
        __import__(module)
    overlay = make_overlay()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for name in names:
            result = run_module(name, args, overlay)
            results.append(result)
            suffix = "-before" if args.before else ""
            (args.out / f"{name}{suffix}.json").write_text(
                json.dumps({**asdict(result), "score": result.score}, indent=1)
            )
    finally:
        shutil.rmtree(overlay, ignore_errors=True)
    print_summary(results)
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    # the fork server must not have imported geocorpus: each mutant's tests import it fresh
    assert not any(m.split(".")[0] in ("geocorpus", "trainer_plugin", "pipelines") for m in sys.modules)
    main()
