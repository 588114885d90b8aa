"""The README's commands run as written: every ``geocorpus ...`` command in its shell blocks names a real
subcommand, and each flag it uses is one that subcommand's ``--help`` lists (issue 16).

Before, the README told users to run ``python benchmarks/repro_mini.py --setting small``, which failed
(``--out`` was required); the same check covers ``python benchmarks/*.py`` commands through argparse.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from pipelines.cli import app

REPO = Path(__file__).resolve().parents[2]
SHELL = ("", "bash", "sh", "shell", "console")
INLINE = re.compile(r"`((?:\.venv/bin/)?geocorpus [^`]+|python benchmarks/[^`]+)`")


def readme_commands(text: str) -> list[list[str]]:
    """Commands in the README's shell blocks and inline code: continuation lines joined, comments cut.

    A command is a line that starts with ``geocorpus``, ``.venv/bin/geocorpus`` or ``python`` (a line of a
    folder listing that mentions a command in passing is not one)."""
    lines: list[str] = []
    fence: str | None = None
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            if fence is None:
                fence, block = line[3:].strip(), []
            else:
                if fence in SHELL:
                    lines += "\n".join(block).replace("\\\n", " ").splitlines()
                fence = None
            continue
        if fence is not None:
            block.append(line)
    lines += INLINE.findall(text)
    found = []
    for line in lines:
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if re.match(r"(\.venv/bin/)?(geocorpus|python)\b", line):
            found.append(shlex.split(line))
    return found


def _geocorpus(words: list[str]) -> list[str] | None:
    for i, word in enumerate(words):
        if word.endswith("geocorpus") and (word == "geocorpus" or word.endswith("/geocorpus")):
            return words[i + 1 :]
        if word == "-m" and i + 1 < len(words) and words[i + 1] == "geocorpus":
            return words[i + 2 :]
    return None


def _is_group(command: Any) -> bool:
    """typer bundles its own click: duck-type instead of isinstance."""
    return hasattr(command, "list_commands")


def _resolve(args: list[str]) -> tuple[Any, list[str], list[str]]:
    """The subcommand the arguments name, its path, and the flags used."""
    command: Any = typer.main.get_command(app)
    path = []
    rest = list(args)
    while _is_group(command) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.get_command(command.context_class(command), name)
        assert sub is not None, f"README uses `geocorpus {' '.join(path + [name])}`: no such command"
        command, path = sub, path + [name]
    flags = [w.split("=", 1)[0] for w in rest if w.startswith("-")]
    return command, path, flags


def test_every_readme_geocorpus_command_parses():
    commands = [c for c in map(_geocorpus, readme_commands((REPO / "README.md").read_text())) if c is not None]
    assert len(commands) >= 8, commands
    for args in commands:
        command, path, flags = _resolve(args)
        # a group only with its own flags (`geocorpus --version`), or named in passing (`geocorpus eval`)
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for flag in flags:
            assert flag in options, f"README: `geocorpus {' '.join(args)}`: {flag} is not an option of {path}"
        shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert shown.exit_code == 0, shown.output
        for flag in flags:
            assert flag in shown.output, f"`geocorpus {' '.join(path)} --help` does not list {flag}"


def test_every_readme_benchmark_command_parses():
    commands = [w for w in readme_commands((REPO / "README.md").read_text()) if w[:2][-1].startswith("benchmarks/")]
    assert commands, "the README names no benchmark command"
    for words in commands:
        script, args = words[1], words[2:]
        code = (
            "import argparse, runpy, sys\n"
            "def stop(self, args=None, namespace=None):\n"
            "    ns, extra = argparse.ArgumentParser.parse_known_args(self, args, namespace)\n"
            "    if extra: self.error(f'unrecognized arguments: {extra}')\n"
            "    print('PARSED', vars(ns)); sys.exit(0)\n"
            "argparse.ArgumentParser.parse_args = stop\n"
            f"sys.argv = [{script!r}, *{args!r}]\n"
            f"runpy.run_path({script!r}, run_name='__main__')\n"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "PARSED" in done.stdout, f"README: {' '.join(words)}: {done.stderr[-2000:]}"


def test_every_option_has_help_text():
    missing = []

    def walk(command: Any, path: list[str]) -> None:
        if _is_group(command):
            for name in command.list_commands(command.context_class(command)):
                walk(command.get_command(command.context_class(command), name), [*path, name])
            return
        for param in command.params:
            if param.param_type_name == "option" and not param.help and "--help" not in param.opts:
                missing.append(f"geocorpus {' '.join(path)} {param.opts[0]}")

    walk(typer.main.get_command(app), [])
    print("\n".join(missing))
    curation = [m for m in missing if not m.startswith("geocorpus eval")]
    assert not curation, curation
