"""The documentation: README.md stays a README, the docs/ pages build as a site, and no link points nowhere.

``mkdocs build --strict`` (``mkdocs.yml``) fails on any warning: a link to a missing page or heading, a nav entry
without its page, a docstring mkdocstrings cannot render. The link check here covers README.md too (GitHub shows
it; mkdocs never reads it).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
README_MAX_LINES = 250
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*```")


def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
        + ["--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, "mkdocs build --strict failed:\n" + done.stdout[-4000:] + done.stderr[-8000:]
    assert (tmp_path / "site" / "api" / "metrics" / "index.html").is_file()


def _slug(heading: str) -> str:
    """The anchor id mkdocs' ``toc`` extension (and, for these headings, GitHub) gives a heading."""
    text = unicodedata.normalize("NFKD", re.sub(r"`", "", heading)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _prose(path: Path) -> list[str]:
    """The lines of a Markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _anchors(path: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in _prose(path) if re.match(r"#{1,6} ", line)}


def broken_links(path: Path) -> list[str]:
    """Relative links and images of one Markdown file whose file (or heading, after ``#``) does not exist."""
    broken = []
    for line in _prose(path):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            name, _, anchor = target.partition("#")
            linked = (path.parent / name).resolve() if name else path
            if not linked.exists():
                broken.append(f"{target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{target} (no such heading in {linked.name})")
    return broken


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_at_existing_files(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_catches_a_missing_file_and_heading(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A page\n\n## Set-up: the two commands\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#set-up-the-two-commands) [gone](nowhere.md) [bad](there.md#nowhere)\n"
        "`[code](ignored.md)`\n```\n[fenced](ignored.md)\n```\n![img](missing.png) [web](https://example.org)\n"
    )
    assert broken_links(page) == [
        "nowhere.md (no such file)",
        "there.md#nowhere (no such heading in there.md)",
        "missing.png (no such file)",
    ]


def test_readme_is_a_readme() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    text = "\n".join(lines)
    sections = ("## Python", "## In a Lightning module", "## Command line", "## As a CI gate")
    for part in (*sections, "docs/report-desktop.png"):
        assert part in text, part


def test_ci_runs_the_readme_test_command() -> None:
    """The README's second command is the one .ci/run runs (with its own .venv)."""
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(encoding="utf-8"), flags=re.S)
    install, tests = blocks[0], blocks[1]
    assert install.startswith("python3 -m venv .venv && ") and install.endswith("examples/mnist_dcgan_quickstart.py")
    assert tests == ".venv/bin/python -m pytest -q"
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def readme_commands() -> list[list[str]]:
    """The ``ganprobe ...`` command lines of the README's bash blocks, continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)\n```", README.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["ganprobe"]:
                commands.append(words[1:])
    return commands


def test_the_readme_commands_parse() -> None:
    """Every command the README shows is one the CLI accepts, options and all (nothing runs)."""
    from ganprobe.front_ends.cli import build_parser

    commands = readme_commands()
    assert {words[0] for words in commands} == {"evaluate", "stats", "extractors"}
    for words in commands:
        build_parser().parse_args(words)  # a usage error exits 2, failing the test
    gated = build_parser().parse_args(next(words for words in commands if "--baseline" in words))
    assert gated.fail_if == ["fid>40", "knn_loo>0.9"] and gated.max_regression == 5


def test_every_module_of_a_subpackage_has_its_api_reference() -> None:
    """A new module under ganprobe.functional, .metrics, .scorers, ... is listed on its API page (docs/api/)."""
    import pkgutil

    import ganprobe

    documented: set[str] = set()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M))
    modules = [info.name for info in pkgutil.walk_packages(ganprobe.__path__, prefix="ganprobe.", onerror=print)]
    in_subpackages = [name for name in modules if name.count(".") >= 2]  # ganprobe.<subpackage>.<module>
    assert len(in_subpackages) > 40
    missing = [name for name in in_subpackages if name not in documented]
    assert not missing, f"not on any docs/api page: {missing}"
