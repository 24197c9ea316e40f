"""Docs that stay true: every CLI command and option has help text and is documented in docs/cli.md,
every option the docs list exists, and the docs' relative links lead somewhere."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixseek.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = ROOT / "docs" / "cli.md"
SHARED = ("common-options", "model-options", "query-options")  # sections a command section may link to


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """(command path, its parser, its one-line help) for every command, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield " ".join((*path, name)), sub, helps.get(name)
                yield from commands(sub, (*path, name))


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def arguments(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            yield action


def doc_name(action: argparse.Action) -> str:
    """How the docs name an argument: its longest option string, or a positional's metavar."""
    if action.option_strings:
        return max(action.option_strings, key=len)
    return action.metavar if isinstance(action.metavar, str) else action.dest


def sections() -> dict[str, str]:
    """docs/cli.md split at its '## ' headings: '`pixseek index`' -> 'index'; 'Common options' -> 'common-options'."""
    out: dict[str, str] = {}
    for block in re.split(r"^## ", CLI_MD.read_text(encoding="utf-8"), flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        match = re.fullmatch(r"`pixseek ([a-z ]+)`", heading.strip())
        key = match.group(1) if match else re.sub(r"\W+", "-", heading.strip().lower()).strip("-")
        out[key] = body
    return out


def documented_text(name: str, docs: dict[str, str]) -> str:
    """A command's section plus the shared sections it links to."""
    body = docs[name]
    return body + "".join(docs[s] for s in SHARED if f"(#{s})" in body)


ALL = list(commands(build_parser()))
LEAVES = [(name, p) for name, p, _ in ALL if is_leaf(p)]


@pytest.mark.parametrize("name,parser,help_text", ALL, ids=[c[0] for c in ALL])
def test_every_command_and_option_has_help(name, parser, help_text):
    assert help_text, f"`pixseek {name}` has no help line in its parent's command list"
    assert parser.description, f"`pixseek {name}` has no description"
    for action in arguments(parser):
        assert action.help, f"`pixseek {name}`: {doc_name(action)} has no help text"


@pytest.mark.parametrize("name,parser", LEAVES, ids=[c[0] for c in LEAVES])
def test_every_command_and_option_is_in_docs_cli_md(name, parser):
    docs = sections()
    assert name in docs, f"docs/cli.md has no section '## `pixseek {name}`'"
    text = documented_text(name, docs)
    for action in arguments(parser):
        opt = doc_name(action)
        assert re.search(r"`" + re.escape(opt) + r"[ `=]", text), (
            f"docs/cli.md does not document {opt} of `pixseek {name}` (in its section, or in a shared "
            f"section it links to: {', '.join('#' + s for s in SHARED)})")


def test_docs_cli_md_lists_no_command_or_option_that_does_not_exist():
    docs = sections()
    leaves = dict(LEAVES)
    for key, body in docs.items():
        if key in SHARED:
            continue
        assert key in leaves, f"docs/cli.md documents `pixseek {key}`, which does not exist"
        real = {o for a in arguments(leaves[key]) for o in a.option_strings}
        real |= {doc_name(a) for a in arguments(leaves[key])}
        for row in re.findall(r"^\| `([^`]+)`", body, flags=re.M):  # the first column of its tables
            word = row.split()[0]
            assert word in real, f"docs/cli.md lists {word} under `pixseek {key}`, which has no such argument"
    shared_real = {o for _, p in LEAVES for a in arguments(p) for o in a.option_strings}
    for key in SHARED:
        for row in re.findall(r"^\| `([^`]+)`", docs[key], flags=re.M):
            assert row.split()[0] in shared_real, f"docs/cli.md, {key}: {row} is no option of any command"


def test_top_level_commands_are_listed_in_the_overview():
    overview = CLI_MD.read_text(encoding="utf-8").split("\n## ")[0]
    for name, _, _ in ALL:
        if " " not in name:
            assert f"pixseek {name} " in overview, f"`pixseek {name}` is missing from the overview of docs/cli.md"


def test_relative_links_in_docs_lead_somewhere():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which is missing"
