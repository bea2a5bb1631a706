"""The README and docs/ stay navigable: every relative link resolves, and the README stays short.

A link to a moved or renamed page or heading fails here instead of in a reader's browser;
the README is a newcomer's first page, so its length is bounded and the rest lives in docs/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
README_MAX_LINES = 250

# [text](target) and ![alt](target), the target up to whitespace or ')'; and reference
# definitions "[name]: target".
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def link_targets(text: str) -> Iterator[str]:
    """Every link target in ``text``, outside code blocks and code spans."""
    prose = CODE_SPAN.sub("", FENCE.sub("", text))
    for pattern in (INLINE_LINK, REFERENCE_LINK):
        for match in pattern.finditer(prose):
            yield match.group(1)


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes for the headings in ``text``: lower case, punctuation dropped,
    spaces as hyphens."""
    return {
        re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        for heading in HEADING.findall(FENCE.sub("", text))
    }


def broken_links(page: Path, text: str) -> list[str]:
    """Relative targets in ``text`` that name no existing file, or no heading in a Markdown
    file, from ``page``."""
    broken = []
    for target in link_targets(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # a URL with a scheme: https:, mailto:
        path, _, anchor = target.split("?", 1)[0].partition("#")
        linked = text
        if path:
            file = page.parent / path
            if not file.exists():
                broken.append(target)
                continue
            if not anchor or file.suffix != ".md":
                continue
            linked = file.read_text(encoding="utf-8")
        if anchor not in anchors(linked):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page, page.read_text(encoding="utf-8")) == []


def test_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_every_docs_page_is_in_the_index() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    listed = {Path(t.split("#", 1)[0]).name for t in link_targets(index)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert sorted(pages - listed) == []


def test_the_check_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# Top\n## The hub's `ingest`, 2.x\n", encoding="utf-8")
    page = tmp_path / "page.md"
    text = (
        "# Here\n[ok](there.md) [ok](there.md#the-hubs-ingest-2x) [web](https://example.org/x)\n"
        "[ok](#here) [gone](missing.md) ![img](pics/a.png) [no heading](there.md#part)\n"
        "[no heading here](#nowhere)\n"
        "[ref]: other.md\n"
        "`[code](not-a-link.md)`\n```\n[fenced](nor-this.md)\n```\n"
    )
    assert broken_links(page, text) == [
        "missing.md",
        "pics/a.png",
        "there.md#part",
        "#nowhere",
        "other.md",
    ]
