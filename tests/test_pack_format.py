"""Pack parsing: every malformed step is refused with its file and line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from edgedb_opt.errors import PackError
from edgedb_opt.migrate import load_pack
from edgedb_opt.migrate.pack import parse_step

GOOD_UP_DOWN = "-- up\nCREATE INDEX i ON t(a);\n-- down\nDROP INDEX i;\n"


def pack_with(tmp_path: Path, *files: tuple[str, str]) -> Path:
    folder = tmp_path / "p"
    folder.mkdir()
    for name, text in files:
        (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("CREATE INDEX i ON t(a);\n", 1, "first line must be"),
        ("-- edgeopt:step id=Bad-Id\n" + GOOD_UP_DOWN, 1, "must match"),
        ("-- edgeopt:step id=a colour=red\n" + GOOD_UP_DOWN, 1, "unexpected 'colour=red'"),
        ("-- edgeopt:step id=a needs=fts6\n" + GOOD_UP_DOWN, 1, "unknown capability 'fts6'"),
        ("-- edgeopt:step id=a\n-- up\nCREATE INDEX i ON t(a);\n", 3, "no '-- down' section"),
        ("-- edgeopt:step id=a\n-- down\nDROP INDEX i;\n", 3, "no '-- up' section"),
        ("-- edgeopt:step id=a\n-- up\n-- only a comment\n-- down\nDROP INDEX i;\n", 2, "is empty"),
        (
            "-- edgeopt:step id=a\n-- up\nCREATE INDEX i ON t(a);\nCREATE INDEX j ON t(b\n"
            "-- down\nDROP INDEX i;\n",
            4,
            "incomplete SQL statement",
        ),
        (
            "-- edgeopt:step id=a\n-- up\n\nCREAT INDEX i ON t(a);\n-- down\nDROP INDEX i;\n",
            4,
            'near "CREAT": syntax error',
        ),
        (
            "-- edgeopt:step id=a\n-- up\nCREATE INDEX i ON t(a);\n-- down\nDROP INDEX i;\n-- up\n",
            6,
            "a second '-- up'",
        ),
    ],
)
def test_malformed_step_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "001_step.sql"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PackError) as info:
        parse_step(path, pack="p")
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_unknown_requirement(tmp_path: Path) -> None:
    folder = pack_with(
        tmp_path, ("001_a.sql", "-- edgeopt:step id=a requires=nope\n" + GOOD_UP_DOWN)
    )
    with pytest.raises(PackError, match=r"001_a\.sql:1: step 'a' requires 'nope', an unknown step"):
        load_pack(folder)


def test_circular_requirement(tmp_path: Path) -> None:
    folder = pack_with(
        tmp_path,
        ("001_a.sql", "-- edgeopt:step id=a requires=b\n" + GOOD_UP_DOWN),
        ("002_b.sql", "-- edgeopt:step id=b requires=a\n" + GOOD_UP_DOWN.replace("i", "k")),
    )
    with pytest.raises(PackError, match=r"requires 'b', a later step \(circular or out of order\)"):
        load_pack(folder)


def test_self_requirement_and_duplicate_id(tmp_path: Path) -> None:
    folder = pack_with(tmp_path, ("001_a.sql", "-- edgeopt:step id=a requires=a\n" + GOOD_UP_DOWN))
    with pytest.raises(PackError, match="requires itself"):
        load_pack(folder)
    other = tmp_path / "q"
    other.mkdir()
    (other / "001_a.sql").write_text("-- edgeopt:step id=a\n" + GOOD_UP_DOWN)
    (other / "002_a.sql").write_text("-- edgeopt:step id=a\n" + GOOD_UP_DOWN)
    with pytest.raises(PackError, match="already used by"):
        load_pack(other)


def test_missing_pack_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="pack 'no_such_pack' not found"):
        load_pack("no_such_pack")
    with pytest.raises(PackError, match=r"holds no \.sql step files"):
        load_pack(tmp_path)


def test_bad_file_name(tmp_path: Path) -> None:
    folder = pack_with(tmp_path, ("first.sql", "-- edgeopt:step id=a\n" + GOOD_UP_DOWN))
    with pytest.raises(PackError, match=r"NNN_name\.sql"):
        load_pack(folder)


def test_trigger_bodies_stay_one_statement(tmp_path: Path) -> None:
    path = tmp_path / "001_t.sql"
    path.write_text(
        "-- edgeopt:step id=t\n-- up\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  INSERT INTO u VALUES (1);\n"
        "  INSERT INTO u VALUES (2);\nEND;\n-- down\nDROP TRIGGER tr;\n"
    )
    step = parse_step(path, pack="p")
    assert len(step.up) == 1 and step.up[0].line == 3
    assert step.up[0].sql.endswith("END;")


def test_study_pack_shape() -> None:
    """The bundled pack: >= 20 indexes, each with a `-- serves:` comment; no INCLUDE, no now()."""
    pack = load_pack("study")
    index_count = 0
    for step in pack.steps:
        text = step.path.read_text()
        lines = text.splitlines()
        up_lines = lines[: lines.index("-- down")]  # a down section restores, it serves nothing new
        for i, line in enumerate(up_lines):
            if re.match(r"\s*CREATE\s+(UNIQUE\s+)?INDEX", line, re.I):
                index_count += 1
                above = "\n".join(lines[max(0, i - 4) : i])
                assert "-- serves:" in above, f"{step.path}:{i + 1} has no '-- serves:' comment"
        upper = "\n".join(s.sql for s in step.up).upper()
        assert "INCLUDE (" not in upper and "INCLUDE(" not in upper
        assert "'NOW'" not in upper, f"{step.path} uses datetime('now')"
    assert index_count >= 20
    fts = [s.id for s in pack.steps if "fts5" in s.needs]
    assert fts == ["questions_fts", "search_filter"]  # the table, and the index its search names
    # ANALYZE follows the index steps it requires; the steps after it (an engine's variant,
    # an index both planners take without statistics) are planned for without them.
    ids = [s.id for s in pack.steps]
    analyze, growth = [s for s in pack.steps if s.needs == ("analyze",)]
    assert all(ids.index(r) < ids.index(analyze.id) for r in analyze.requires)
    assert ids[ids.index(analyze.id) + 1 :] == [
        "not_null_lookups",
        "question_exam_index",
        "search_version",
        "analyze_growth_stats",  # the social-growth tables' statistics, skipped without them
    ]
    assert growth.id == "analyze_growth_stats"
    assert set(growth.requires) == {"growth_indexes", "engagement_indexes", "analyze_stats"}
    assert not {"growth_indexes", "engagement_indexes"} & set(analyze.requires)
