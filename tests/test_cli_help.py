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
    """(path, command) for a command and everything under it (typer ships its own click: duck-typed)."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _walk(sub, (*path, name))


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
    eval_group = typer.main.get_command(app).commands["eval"]
    result = CliRunner().invoke(app, ["eval", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    subcommands = sorted(eval_group.commands)
    assert {"ppl", "cross", "mcq", "switch", "merge", "merge-sweep"} <= set(subcommands)
    for name in subcommands:
        assert f" {name} " in result.output, f"`geocorpus eval --help` does not list {name}"
    for name in sorted(typer.main.get_command(app).commands):
        assert name in CliRunner().invoke(app, ["--help"], terminal_width=200).output
