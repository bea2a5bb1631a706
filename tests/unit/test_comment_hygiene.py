"""Comments and docstrings say why, not which ticket asked for it.

An issue number in the code points at a tracker the reader may not have and goes stale as
soon as the code moves on; the commit message is where that history belongs. The scan reads
Python comments with :mod:`tokenize` and docstrings with :mod:`ast`, so string data (a test's
sample text) is not mistaken for a comment, and ``#`` comments in the shell, YAML and
configuration files of the deployment.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON_TREES = ("trygg", "edge", "hub", "sim", "bench", "dashboards", "tests", "deploy", "scripts")
CONFIG_FILES = ("Makefile", "Dockerfile", "docker-compose.yml", ".env.example")
CONFIG_TREES = ("deploy", "scripts", "firmware-config")
CONFIG_SUFFIXES = {".sh", ".yml", ".yaml", ".conf", ".template", ".service", ".timer"}

# The word issue (or issues) followed by a number, with or without '#', or a bare '(#N)':
# a reference to a tracker entry.
ISSUE_TAG = re.compile(r"\bissues?\s*#?\d+|\(#\d+\)", re.IGNORECASE)


def python_notes(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring line in ``source``."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                doc = body[0].value
                if isinstance(doc.value, str):
                    for offset, line in enumerate(doc.value.splitlines()):
                        yield doc.lineno + offset, line


def hash_comments(text: str) -> Iterator[tuple[int, str]]:
    """(line, text) of the ``#`` comment part of each line of a shell/YAML/config file."""
    for number, line in enumerate(text.splitlines(), start=1):
        at = line.find("#")
        if at >= 0 and (at == 0 or line[at - 1].isspace()):
            yield number, line[at:]


def issue_tags(notes: Iterator[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(line, text.strip()) for line, text in notes if ISSUE_TAG.search(text)]


def project_files() -> Iterator[tuple[Path, Iterator[tuple[int, str]]]]:
    for tree in PYTHON_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            yield path, python_notes(path.read_text(encoding="utf-8"))
    configs = [ROOT / name for name in CONFIG_FILES]
    for tree in CONFIG_TREES:
        configs += [p for p in sorted((ROOT / tree).rglob("*")) if p.suffix in CONFIG_SUFFIXES]
    for path in configs:
        if path.is_file():
            yield path, hash_comments(path.read_text(encoding="utf-8"))


def test_no_issue_tags_in_comments_or_docstrings() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path, notes in project_files()
        for line, text in issue_tags(notes)
    ]
    assert not found, "say why instead of naming the issue:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("x = 1  # issue 5: the ingest\n", [1]),
        ('"""Issues 5 and 6 asked for it."""\n', [1]),
        ('def f() -> None:\n    """Why.\n\n    See issue #12.\n    """\n', [4]),
        ("class C:\n    '''Fixed in (#42).'''\n", [2]),
        ("# a cheap miss would be slower\nx = 'issue 7'  # data, not a note\n", []),
        ('x = """issue 7"""\n', []),
        ("# the issuer's 5 keys, an issue-free zone\n", []),
    ],
)
def test_scan_finds_tags_in_comments_and_docstrings_only(source: str, lines: list[int]) -> None:
    assert [line for line, _ in issue_tags(python_notes(source))] == lines


def test_config_comments_are_scanned_but_not_values() -> None:
    text = "# issue 9 asked for this\nurl: http://x/#frag\nkey: 3 # see issue 4\ncolor: '#123'\n"
    assert [line for line, _ in issue_tags(hash_comments(text))] == [1, 3]
