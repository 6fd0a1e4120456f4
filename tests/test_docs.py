"""The documentation is tested like code: README.md and every page under docs/.

- Every fenced ``python`` block compiles (top-level ``await`` allowed, as in ``python -m
  asyncio``). A block whose fence follows the line ``<!-- run -->`` also runs, in a
  subprocess, in a fresh temporary directory that holds ``app.db``: a copy of a database made
  by ``edgeopt init`` and ``edgeopt seed --scale tiny``.
- Every ``edgeopt <command> --option`` in a ``sh`` / ``bash`` / ``console`` block, or in inline
  code that starts with ``edgeopt``, names a real command and real options of it.
- Every relative link points at a file that exists, and a link into a page at a heading of it.
- No file of the repository names the original design notes: the docs are the repo's own.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from edgedb_opt.cli import main

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
RUN_MARK = "<!-- run -->"
SHELL_LANGS = frozenset({"sh", "bash", "console", "shell"})
README_MAX_LINES = 200
#: Written in two parts so that this file does not name them itself.
FORBIDDEN = ("DESIGN" + ".md", "../" + "shared")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_INLINE_CODE = re.compile(r"(`+)(?P<code>.+?)\1")
_LINK = re.compile(r"!?\[[^\]]*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["'](?P<target>[^"']+)["']""")
_HEADING = re.compile(r"^(#{1,6})\s+(?P<text>.+?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_SEPARATOR = re.compile(r"^[();<>|&]+$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    run: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


@dataclass(frozen=True)
class Page:
    """A page split into its code blocks and its prose (code block lines blanked)."""

    path: Path
    blocks: tuple[Block, ...]
    prose: tuple[str, ...]


def read_page(path: Path) -> Page:
    lines = path.read_text(encoding="utf-8").splitlines()
    prose = list(lines)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None or "`" in m["info"]:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        info = m["info"].strip().split()
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        blocks.append(
            Block(
                page=path,
                line=i + 1,
                lang=info[0].lower() if info else "",
                code="\n".join(body) + "\n",
                run=before == RUN_MARK,
            )
        )
        for k in range(i, min(end + 1, len(lines))):
            prose[k] = ""
        i = end + 1
    return Page(path, tuple(blocks), tuple(prose))


ALL_PAGES = [read_page(p) for p in PAGES if p.is_file()]
PYTHON_BLOCKS = [b for p in ALL_PAGES for b in p.blocks if b.lang in ("python", "py")]
RUN_BLOCKS = [b for b in PYTHON_BLOCKS if b.run]


def _ids(block: Block) -> str:
    return block.where


# -- (a) Python blocks ----------------------------------------------------------------------


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=_ids)
def test_python_block_compiles(block: Block) -> None:
    compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_run_marks_sit_on_python_blocks() -> None:
    """A ``<!-- run -->`` line must be followed by a python block, or it silently runs nothing."""
    marked = 0
    for page in ALL_PAGES:
        lines = page.path.read_text(encoding="utf-8").splitlines()
        marked += sum(1 for line in lines if line.strip() == RUN_MARK)
    assert marked == len(RUN_BLOCKS), "a <!-- run --> mark is not followed by a python block"
    assert any(b.page == README for b in RUN_BLOCKS), "the README's example should be runnable"


@pytest.fixture(scope="module")
def app_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``app.db`` as the docs make it: ``edgeopt init`` then ``edgeopt seed --scale tiny``."""
    path = tmp_path_factory.mktemp("docs") / "app.db"
    for args in (["init"], ["seed", "--scale", "tiny", "--anchor", "2026-06-01"]):
        proc = subprocess.run(
            [sys.executable, "-m", "edgedb_opt", *args, "--db", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env=_clean_env(),
        )
        assert proc.returncode == 0, proc.stderr
    return path


def _clean_env() -> dict[str, str]:
    """The environment without EDGEOPT_* settings, which would change what examples open."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EDGEOPT_")}


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=_ids)
def test_runnable_block_runs(block: Block, app_db: Path, tmp_path: Path) -> None:
    shutil.copyfile(app_db, tmp_path / "app.db")
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
    )
    output = f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, f"{block.where} failed:\n{output}"
    assert "ResourceWarning" not in proc.stderr, f"{block.where} leaves something open:\n{output}"


# -- (b) edgeopt command lines --------------------------------------------------------------


def long_options(command: click.Command) -> set[str]:
    """The ``--name`` options a command accepts, ``--help`` included."""
    names = {"--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    return names


def split_commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line (split at ``&&``, ``|``, ``;`` ...), each without
    leading ``VAR=value`` assignments and without redirection targets."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote in prose-like text: fall back to words
        tokens = line.split()
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if _SEPARATOR.match(token):
            if ">" in token or "<" in token:
                skip_next = True  # the file redirected to or from
            else:
                commands.append([])
            continue
        if not commands[-1] and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
            continue
        commands[-1].append(token)
    return [c for c in commands if c]


def edgeopt_args(command: list[str]) -> list[str] | None:
    """The arguments after ``edgeopt`` (or ``python -m edgedb_opt``), None for other programs."""
    program = command[0].rsplit("/", 1)[-1]
    if program == "edgeopt":
        return command[1:]
    if program.startswith("python") and command[1:3] == ["-m", "edgedb_opt"]:
        return command[3:]
    return None


def check_call(args: list[str]) -> list[str]:
    """What is wrong with ``edgeopt ARGS``: unknown commands and unknown options."""
    problems: list[str] = []
    group_options = long_options(main)
    i = 0
    while i < len(args) and args[i].startswith("-"):
        option = args[i].split("=", 1)[0]
        if option not in group_options:
            problems.append(f"edgeopt has no option {option}")
        i += 1
    if i == len(args):
        return problems
    name = args[i]
    assert isinstance(main, click.Group)
    command = main.commands.get(name)
    if command is None:
        return [*problems, f"no command `edgeopt {name}` (commands: {', '.join(main.commands)})"]
    options = long_options(command)
    for arg in args[i + 1 :]:
        option = arg.split("=", 1)[0]
        if option.startswith("--") and len(option) > 2 and option not in options:
            problems.append(f"`edgeopt {name}` has no option {option}")
    return problems


def shell_lines(block: Block) -> list[str]:
    """The command lines of a shell block (continuations joined; in a console block only the
    lines after a ``$`` prompt)."""
    joined: list[str] = []
    pending = ""
    for raw in block.code.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        if block.lang == "console":
            if not line.lstrip().startswith("$ "):
                continue
            line = line.lstrip()[2:]
        joined.append(line)
    return joined


def edgeopt_uses() -> list[tuple[str, str]]:
    """Every ``(where, command line)`` that runs edgeopt, from shell blocks and inline code."""
    uses: list[tuple[str, str]] = []
    for page in ALL_PAGES:
        for block in page.blocks:
            if block.lang in SHELL_LANGS:
                uses += [(block.where, line) for line in shell_lines(block)]
        for n, line in enumerate(page.prose, 1):
            for m in _INLINE_CODE.finditer(line):
                code = m["code"].strip()
                if code.startswith("edgeopt ") and "..." not in code:
                    text = code.replace("[", " ").replace("]", " ")
                    uses.append((f"{page.path.relative_to(REPO)}:{n}", text))
    return uses


def test_shell_examples_name_real_commands_and_options() -> None:
    problems: list[str] = []
    checked = 0
    for where, line in edgeopt_uses():
        for command in split_commands(line):
            args = edgeopt_args(command)
            if args is None:
                continue
            checked += 1
            problems += [f"{where}: {p}: {line.strip()}" for p in check_call(args)]
    assert checked > 0
    assert not problems, "\n".join(problems)


def test_the_option_check_catches_mistakes() -> None:
    assert check_call(["apply", "--db", "x.db", "--dry-run"]) == []
    assert check_call(["--verbose", "status", "--json"]) == []
    assert check_call(["apply", "--dryrun"]) == ["`edgeopt apply` has no option --dryrun"]
    assert check_call(["archive"])[0].startswith("no command `edgeopt archive`")
    cmds = split_commands("A=1 edgeopt bench --json > out.json && .venv/bin/edgeopt status # x")
    assert [edgeopt_args(c) for c in cmds] == [["bench", "--json"], ["status"]]


# -- (c) links ------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """The anchor Python-Markdown's toc extension gives a heading (its default slugify)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link: its text
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Page) -> set[str]:
    return {slugify(m["text"]) for line in page.prose if (m := _HEADING.match(line))}


def links(page: Page) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for n, line in enumerate(page.prose, 1):
        text = _INLINE_CODE.sub("", line)
        found += [(n, m["target"].strip("<>")) for m in _LINK.finditer(text)]
        found += [(n, m["target"]) for m in _HTML_LINK.finditer(text)]
    return found


def test_relative_links_point_at_files_and_headings_that_exist() -> None:
    by_path = {page.path.resolve(): page for page in ALL_PAGES}
    problems: list[str] = []
    checked = 0
    for page in ALL_PAGES:
        for n, target in links(page):
            if _SCHEME.match(target) or target.startswith("//"):
                continue
            checked += 1
            where = f"{page.path.relative_to(REPO)}:{n}"
            path_part, _, fragment = target.partition("#")
            resolved = (page.path.parent / path_part).resolve() if path_part else page.path
            if not resolved.exists():
                problems.append(f"{where}: {target} does not exist")
                continue
            linked = by_path.get(resolved.resolve())
            if fragment and linked is not None and fragment not in anchors(linked):
                problems.append(f"{where}: {target}: no heading #{fragment} there")
    assert checked > 0
    assert not problems, "\n".join(problems)


# -- the README and the site ----------------------------------------------------------------


def test_readme_is_short_and_names_every_command() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, "move the detail into docs/"
    for setup in ("make demo", "make test"):
        assert setup in text
    assert isinstance(main, click.Group)
    for name in main.commands:
        assert f"edgeopt {name}" in text, f"README does not show `edgeopt {name}`"


def test_every_page_is_in_the_site_nav() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if f": {p.name}" not in config]
    assert not missing, f"pages not in the nav of mkdocs.yml: {missing}"
    cli_page = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert "::: mkdocs-click" in cli_page and ":module: edgedb_opt.cli" in cli_page


# -- (d) the docs are the repository's own -------------------------------------------------


def test_no_file_names_the_design_notes() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    hits: list[str] = []
    for name in sorted({n for n in listed.split(b"\0") if n}):
        path = REPO / os.fsdecode(name)
        if not path.is_file():
            continue  # deleted in the work tree
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", "replace")
        for word in FORBIDDEN:
            hits += [
                f"{os.fsdecode(name)}:{n}: {line.strip()}"
                for n, line in enumerate(text.splitlines(), 1)
                if word in line
            ]
    assert not hits, "\n".join(hits)
