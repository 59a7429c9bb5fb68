"""Every link of the documentation resolves inside a clone of the repository.

README.md, docs/*.md and benchmarks/README.md: each markdown link or image `[text](target)`
names a file or directory of the repository (relative to the page), and each `#anchor` a
heading of the page it points to (GitHub's anchors: lower case, punctuation dropped, spaces
to '-', a repeated heading gets -1, -2, ...). No link leaves the repository: no path that
climbs out of it (`../shared/...`), no absolute path, no URL (a clone may have no network).
Links inside code (fenced blocks, `inline`) are text, not links.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def pages() -> list[Path]:
    """The documentation whose links must resolve."""
    return [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        REPO / "benchmarks" / "README.md",
    ]


def _prose(text: str) -> str:
    """The page without its code: fenced blocks and inline code."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor a page's headings give, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        base = anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path, repo: Path = REPO) -> list[str]:
    """Each link of a page that does not resolve inside `repo`, with why."""
    broken: list[str] = []
    for target in _LINK.findall(_prose(page.read_text())):
        path, _, fragment = target.partition("#")
        if not target or _SCHEME.match(target) or target.startswith("//"):
            broken.append(f"{target!r}: not a path inside the repository")
            continue
        if path.startswith("/"):
            broken.append(f"{target!r}: an absolute path")
            continue
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(repo.resolve()):
            broken.append(f"{target!r}: leaves the repository")
        elif not resolved.exists():
            broken.append(f"{target!r}: no such file")
        elif fragment and (resolved.suffix != ".md" or fragment not in anchors(resolved)):
            broken.append(f"{target!r}: no heading #{fragment} in {resolved.name}")
    return broken


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    assert page.exists(), f"{page.relative_to(REPO)} is missing"
    assert broken_links(page) == []


def test_the_readme_fits_on_a_screen_or_five() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 250, f"README.md has {lines} lines"


def test_anchors_are_githubs() -> None:
    assert anchor("Kafka: several brokers, replicated topics, SASL and TLS") == (
        "kafka-several-brokers-replicated-topics-sasl-and-tls"
    )
    assert anchor("Rules as data: the `risk-config` topic") == "rules-as-data-the-risk-config-topic"
    assert anchor("The [contract](contract.md), in short") == "the-contract-in-short"
    assert anchor("Snake_case stays") == "snake_case-stays"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A part\n## A part\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n## Here, too\n\n"
        "Good: [other](other.md), [part](other.md#a-part), [again](other.md#a-part-1),\n"
        "[here](#here-too), [up](../docs/other.md), [dir](.)\n"
        "In code it is text: `[x](missing.md)`\n\n```\n[y](missing.md)\n```\n\n"
        "Bad: [gone](missing.md), [anchor](other.md#no-such-part), [self](#nowhere),\n"
        "[contract](../../shared/CONTRACT.md), [web](https://example.com/), [root](/etc/hosts),\n"
        "![image](missing.png)\n"
    )
    assert broken_links(page, tmp_path) == [
        "'missing.md': no such file",
        "'other.md#no-such-part': no heading #no-such-part in other.md",
        "'#nowhere': no heading #nowhere in page.md",
        "'../../shared/CONTRACT.md': leaves the repository",
        "'https://example.com/': not a path inside the repository",
        "'/etc/hosts': an absolute path",
        "'missing.png': no such file",
    ]
