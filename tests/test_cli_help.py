"""Every option and argument of every ``geocorpus`` command has help text, and ``eval --help`` lists every
eval subcommand (issue 16, item 6).

The walk goes over the click command tree typer builds (``typer.main.get_command``), so a new command
or option without help fails here, not in a user's terminal.
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from pipelines.cli import app


def _walk(command, path: tuple[str, ...] = ("geocorpus",)):
    """(path, command) for a command and everything under it, through click's own API (``geocorpus eval``
    loads its commands only when asked)."""
    yield path, command
    if hasattr(command, "list_commands"):  # a group (typer ships its own click: duck-typed)
        context = command.context_class(command)
        for name in command.list_commands(context):
            yield from _walk(command.get_command(context, name), (*path, name))


def _tree() -> list:
    return list(_walk(typer.main.get_command(app)))


def test_the_walk_reaches_every_command():
    names = {" ".join(path) for path, _ in _tree()}
    expected = {"curate", "validate", "stats", "push", "train", "tokenizer", "tokenize", "registry build"}
    expected |= {"classifier train", "eval ppl", "eval cross", "eval mcq", "eval switch", "eval merge"}
    expected |= {"eval merge-sweep"}
    assert {f"geocorpus {name}" for name in expected} <= names


def test_every_option_and_argument_has_help_text():
    missing = []
    for path, command in _tree():
        if not (command.help or command.short_help):
            missing.append(f"{' '.join(path)}: the command itself")
        for param in command.params:
            if param.name == "help":
                continue
            text = getattr(param, "help", None)
            if not (text and text.strip()):
                missing.append(f"{' '.join(path)}: {'/'.join(param.opts)}")
    assert not missing, "no help text:\n" + "\n".join(missing)


def test_eval_help_lists_every_subcommand():
    root = typer.main.get_command(app)
    eval_group = root.get_command(root.context_class(root), "eval")
    result = CliRunner().invoke(app, ["eval", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    subcommands = sorted(eval_group.commands)
    assert {"ppl", "cross", "mcq", "switch", "merge", "merge-sweep"} <= set(subcommands)
    for name in subcommands:
        assert f" {name} " in result.output, f"`geocorpus eval --help` does not list {name}"
    for name in sorted(typer.main.get_command(app).commands):
        assert name in CliRunner().invoke(app, ["--help"], terminal_width=200).output


def test_curation_commands_do_not_import_the_evaluation_stack():
    """``geocorpus eval`` loads torch, transformers and matplotlib; ``curate`` and the rest must not (they
    held ~300 MB in the CLI process for a whole curation run)."""
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys; sys.argv = ['geocorpus', 'validate', '--help']\n"
        "from pipelines.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'matplotlib', 'trainer_plugin.evaluation') if m in sys.modules))"
    )
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=repo, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-2000:]
    ran = CliRunner().invoke(app, ["eval", "ppl", "--help"], terminal_width=200)
    assert ran.exit_code == 0 and "--model" in ran.output, ran.output
