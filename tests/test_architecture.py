"""The layering holds: geocorpus imports nothing above it, and no module imports itself in a loop."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from geocorpus.paths import REPO_ROOT


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO_ROOT / ".ci" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_cycles_and_no_upward_imports():
    graph = _import_graph()
    edges = graph.graph()
    assert "geocorpus.config" in edges and "pipelines.cli" in edges
    assert graph.cycles(edges) == []
    assert graph.upward(edges) == []
    assert not any(
        b.startswith(("pipelines", "trainer_plugin")) for a, t in edges.items() if a.startswith("geocorpus") for b in t
    )


def test_the_checker_sees_an_upward_import_and_a_cycle():
    graph = _import_graph()
    edges = {"geocorpus.a": {"pipelines.b"}, "pipelines.b": {"geocorpus.a"}}
    assert graph.upward(edges) == [("geocorpus.a", "pipelines.b")]
    assert graph.cycles(edges) == [["geocorpus.a", "pipelines.b"]]


def test_python_dash_m_geocorpus_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "geocorpus", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "curate" in result.stdout and "validate" in result.stdout


def test_the_console_script_loads_no_cli_until_it_runs():
    """Every curation stage's forkserver imports the ``geocorpus`` script as its ``__main__``: the script's
    module must not pull in the CLI (torch, transformers, matplotlib through ``geocorpus eval``), which
    made each stage wait ~3.5-7 s before its first worker."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "geocorpus"]
    module = script.value.split(":")[0]
    probe = (
        f"import sys, {module}; "
        "heavy = sorted(m for m in ('pipelines.cli', 'torch', 'transformers', 'matplotlib', 'trainer_plugin') "
        "if m in sys.modules); print(heavy)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert loaded.stdout.strip() == "[]", loaded.stdout
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.argv = ['geocorpus', '--version']; import {script.value.replace(':', ' as m; m.')}()",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr[-2000:]
