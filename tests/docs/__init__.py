"""Tests of the documentation: the README and docs/ pages say what the code does, and their commands run.

This package's helpers read Markdown: fenced blocks by language, the shell commands in them (normalised so a
comment or extra spaces do not change a command), and the docs pages the README links to.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DOCS",
    "README",
    "ROOT",
    "SHELL_LANGUAGES",
    "Block",
    "commands",
    "fenced_blocks",
    "linked_pages",
    "normalise",
]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)\s]*)?\)")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language (the info string's first word), its text and where it starts."""

    language: str
    text: str
    path: Path
    line: int


def fenced_blocks(path: Path, *languages: str) -> list[Block]:
    """The fenced blocks of a Markdown file, in order; only those in `languages` when any are given."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, language, start = opening["fence"], opening["info"].lower(), index + 1
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence (an unclosed block runs to the end of the file, as CommonMark says)
        if not languages or language in languages:
            blocks.append(Block(language, "\n".join(body) + "\n", path, start))
    return blocks


def normalise(command: str) -> str:
    """A command without its `# comment` and with single spaces, quoted where the shell needs it."""
    return shlex.join(shlex.split(command, comments=True))


def commands(path: Path) -> list[str]:
    """Every shell command of a page's sh/bash/shell/console blocks, normalised, in order.

    In a `console` block only the lines after a `$ ` prompt are commands (the rest is output); a line ending
    with a backslash continues on the next.
    """
    found: list[str] = []
    for block in fenced_blocks(path, *SHELL_LANGUAGES):
        pending = ""
        for raw in block.text.splitlines():
            line = raw.strip()
            if block.language == "console" and not pending:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = pending + line, ""
            if normalise(line):
                found.append(normalise(line))
    return found


def linked_pages(path: Path) -> list[Path]:
    """The Markdown pages under docs/ that a page links to (relative links), each once, in order."""
    pages: list[Path] = []
    for match in _LINK.finditer(path.read_text(encoding="utf-8")):
        target = (path.parent / match["target"]).resolve()
        if target.suffix == ".md" and target.parent == DOCS and target not in pages:
            pages.append(target)
    return pages
