"""The shape of the code a newcomer reads: small modules, short functions, long ones explained.

    python -m tools.code_shape [PATH ...]    (default: chalicelib; exit status 1 on a breach)

The rules, for the Python files under the paths given:

* no module over ``--max-module-lines`` (600) lines;
* at most ``--max-long-functions`` (2) functions over ``--max-function-lines`` (60) lines;
* every function over that length says why on its first lines, in a comment starting
  ``# long because:`` (between its decorators and its first statement after the docstring, or
  on the line just above it).

A function's length runs from its ``def`` to its last line, its docstring and comments
included; a function nested in another counts as part of it, a method on its own.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
MAX_LONG_FUNCTIONS = 2

#: The comment that explains a long function.
WHY_LONG = re.compile(r"#\s*long because:", re.IGNORECASE)

_Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class LongFunction:
    path: Path
    name: str
    line: int
    length: int
    explained: bool

    def __str__(self) -> str:
        why = "explained" if self.explained else "no '# long because:' comment"
        return f"{self.path}:{self.line}: {self.name} is {self.length} lines ({why})"


@dataclass
class Shape:
    """What the checked files look like, and the rules they break."""

    max_module_lines: int = MAX_MODULE_LINES
    max_function_lines: int = MAX_FUNCTION_LINES
    max_long_functions: int = MAX_LONG_FUNCTIONS
    #: (path, lines) of every module over the limit.
    big_modules: list[tuple[Path, int]] = field(default_factory=list)
    long_functions: list[LongFunction] = field(default_factory=list)

    def breaches(self) -> list[str]:
        found = [
            f"{path}: {lines} lines (at most {self.max_module_lines})" for path, lines in self.big_modules
        ]
        if len(self.long_functions) > self.max_long_functions:
            found.append(
                f"{len(self.long_functions)} functions over {self.max_function_lines} lines "
                f"(at most {self.max_long_functions}): "
                + ", ".join(f"{f.path}:{f.line} {f.name}" for f in self.long_functions)
            )
        found += [str(f) for f in self.long_functions if not f.explained]
        return found


def measure(
    paths: Sequence[Path],
    *,
    max_module_lines: int = MAX_MODULE_LINES,
    max_function_lines: int = MAX_FUNCTION_LINES,
    max_long_functions: int = MAX_LONG_FUNCTIONS,
) -> Shape:
    """The shape of every ``.py`` file under ``paths`` (files or folders)."""
    shape = Shape(max_module_lines, max_function_lines, max_long_functions)
    for path in sorted(_python_files(paths)):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        if len(lines) > max_module_lines:
            shape.big_modules.append((path, len(lines)))
        for function in _outermost_functions(ast.parse(source, filename=str(path))):
            length = (function.end_lineno or function.lineno) - function.lineno + 1
            if length > max_function_lines:
                shape.long_functions.append(
                    LongFunction(path, function.name, function.lineno, length, _explained(function, lines))
                )
    return shape


def _python_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        elif path.suffix == ".py":
            yield path


def _outermost_functions(tree: ast.AST) -> Iterator[_Function]:
    """Module-level functions and methods (of classes at any depth), not functions nested in them."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, _Function):
            yield node
        elif isinstance(node, ast.ClassDef):
            yield from _outermost_functions(node)


def _explained(function: _Function, lines: list[str]) -> bool:
    """A ``# long because:`` comment on the line above the function, or between its first
    decorator and its first statement after the docstring."""
    first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
    body = function.body
    first_statement = body[0]
    has_docstring = (
        isinstance(first_statement, ast.Expr)
        and isinstance(first_statement.value, ast.Constant)
        and isinstance(first_statement.value.value, str)
        and len(body) > 1
    )
    last = body[1].lineno if has_docstring else body[0].lineno
    # Line numbers count from 1: lines[first - 2] is the line above the function.
    return any(WHY_LONG.search(line) for line in lines[max(first - 2, 0) : last])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.code_shape", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("chalicelib")])
    parser.add_argument("--max-module-lines", type=int, default=MAX_MODULE_LINES)
    parser.add_argument("--max-function-lines", type=int, default=MAX_FUNCTION_LINES)
    parser.add_argument("--max-long-functions", type=int, default=MAX_LONG_FUNCTIONS)
    args = parser.parse_args(argv)
    shape = measure(
        args.paths,
        max_module_lines=args.max_module_lines,
        max_function_lines=args.max_function_lines,
        max_long_functions=args.max_long_functions,
    )
    breaches = shape.breaches()
    for breach in breaches:
        print(breach)
    if breaches:
        return 1
    print(
        f"code shape: no module over {shape.max_module_lines} lines, {len(shape.long_functions)} "
        f"function(s) over {shape.max_function_lines} lines, each explained"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
