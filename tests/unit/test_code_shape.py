"""The code-shape check (``python -m tools.code_shape``): the rules, and chalicelib keeping them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.code_shape import Shape, main, measure

REPO = Path(__file__).resolve().parents[2]


def function(name: str, body_lines: int, *, why: str | None = None, docstring: bool = False) -> str:
    head = [f"def {name}() -> int:"]
    if docstring:
        head.append('    """What it does."""')
    if why is not None:
        head.append(f"    # long because: {why}")
    body = [f"    x{n} = {n}" for n in range(body_lines)]
    return "\n".join([*head, *body, "    return 0", ""])


def write(tmp_path: Path, name: str, *sources: str) -> Path:
    path = tmp_path / name
    path.write_text("\n\n".join(sources), encoding="utf-8")
    return path


def test_chalicelib_has_no_module_over_600_lines_and_at_most_two_explained_functions_over_60(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)  # the breaches name paths as the command does
    breaches = measure([Path("chalicelib")]).breaches()

    assert breaches == [], "\n".join(["python -m tools.code_shape:", *breaches])


def test_a_module_over_the_limit_is_a_breach_and_one_at_it_is_not(tmp_path: Path) -> None:
    write(tmp_path, "at_limit.py", "\n".join(f"x{n} = {n}" for n in range(600)))
    big = write(tmp_path, "too_big.py", "\n".join(f"x{n} = {n}" for n in range(601)))

    shape = measure([tmp_path])

    assert shape.big_modules == [(big, 601)]
    assert shape.breaches() == [f"{big}: 601 lines (at most 600)"]


def test_a_function_is_measured_from_its_def_to_its_last_line(tmp_path: Path) -> None:
    # def + 58 assignments + return = 60 lines: not long; one more line (the reason) makes it long.
    write(tmp_path, "m.py", function("fits", 58), function("long", 58, why="a table"))

    shape = measure([tmp_path])

    assert [(f.name, f.length) for f in shape.long_functions] == [("long", 61)]


def test_a_long_function_without_a_reason_is_a_breach(tmp_path: Path) -> None:
    path = write(tmp_path, "m.py", function("unexplained", 70))

    breaches = measure([tmp_path]).breaches()

    assert breaches == [f"{path}:1: unexplained is 72 lines (no '# long because:' comment)"]


@pytest.mark.parametrize(
    "source",
    [
        function("f", 70, why="one table of cases"),
        function("f", 70, why="one table of cases", docstring=True),
        "# long because: one table of cases\n" + function("f", 70),
    ],
    ids=["first line", "after the docstring", "the line above"],
)
def test_a_reason_on_a_long_functions_first_lines_explains_it(tmp_path: Path, source: str) -> None:
    write(tmp_path, "m.py", source)

    shape = measure([tmp_path])

    assert [f.explained for f in shape.long_functions] == [True]
    assert shape.breaches() == []


def test_a_reason_deep_inside_the_function_does_not_count(tmp_path: Path) -> None:
    source = function("f", 70).replace("    x30 = 30", "    # long because: too late\n    x30 = 30")
    write(tmp_path, "m.py", source)

    assert [f.explained for f in measure([tmp_path]).long_functions] == [False]


def test_more_than_two_long_functions_is_a_breach_even_when_each_is_explained(tmp_path: Path) -> None:
    write(tmp_path, "m.py", *(function(f"f{n}", 70, why="reasons") for n in range(3)))

    breaches = measure([tmp_path]).breaches()

    assert len(breaches) == 1
    assert breaches[0].startswith("3 functions over 60 lines (at most 2): ")


def test_methods_count_on_their_own_and_nested_functions_as_part_of_theirs(tmp_path: Path) -> None:
    nested = "\n".join(f"        y{n} = {n}" for n in range(70))
    source = (
        "class Box:\n"
        + "\n".join("    " + line for line in function("method", 70).splitlines())
        + "\n\n\ndef outer() -> None:\n    def inner() -> None:\n"
        + nested
        + "\n"
    )
    write(tmp_path, "m.py", source)

    assert sorted(f.name for f in measure([tmp_path]).long_functions) == ["method", "outer"]


def test_the_command_prints_the_breaches_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "m.py", function("unexplained", 70))

    assert main([str(tmp_path)]) == 1
    assert "unexplained is 72 lines" in capsys.readouterr().out
    write(tmp_path, "m.py", function("short", 3))
    assert main([str(tmp_path)]) == 0


def test_the_limits_are_the_ones_the_rules_state() -> None:
    assert (Shape().max_module_lines, Shape().max_function_lines, Shape().max_long_functions) == (600, 60, 2)
