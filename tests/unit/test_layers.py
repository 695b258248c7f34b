"""The layering holds: routes and workers reach I/O only through the ports of ``services()``;
the domain and the use cases import no AWS code and nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What each layer of chalicelib must not import (a module, or any module under it).
FORBIDDEN = {
    "api": ("chalicelib.adapters", "boto3", "botocore"),
    "workers": ("chalicelib.adapters", "boto3", "botocore"),
    "service": (
        "chalicelib.adapters",
        "chalicelib.api",
        "chalicelib.workers",
        "chalicelib.bootstrap",
        "boto3",
    ),
    "domain": ("chalicelib.adapters", "chalicelib.service", "chalicelib.api", "boto3", "botocore", "chalice"),
}


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source imports, and ``module.name`` for each ``from module import name``;
    relative imports resolved against ``package`` (the importing module's package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in forbidden)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_module_of_a_layer_imports_what_lies_outside_it(layer: str) -> None:
    files = sorted((ROOT / "chalicelib" / layer).rglob("*.py"))
    assert files, f"no modules found under chalicelib/{layer}"
    wrong = set()
    for path in files:
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for module in imported_modules(path.read_text(encoding="utf-8"), package):
            if breaks(module, FORBIDDEN[layer]):
                wrong.add(f"{path.relative_to(ROOT)}: {module}")
    assert not wrong, sorted(wrong)


def test_the_check_sees_absolute_and_relative_imports_of_the_adapters() -> None:
    source = "import boto3.session\nfrom ..adapters import keys\nfrom .errors import DomainError\n"

    modules = imported_modules(source, "chalicelib.api")

    assert {"boto3.session", "chalicelib.adapters.keys", "chalicelib.api.errors.DomainError"} <= modules
    assert breaks("chalicelib.adapters.keys", FORBIDDEN["api"])
    assert not breaks("chalicelib.api.errors", FORBIDDEN["api"])
