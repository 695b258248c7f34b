"""Each Lambda function imports only its own code: what ``import app`` and a first request load.

Nothing here is timed (``make bench`` measures the cold start): the tests look at which modules a
fresh interpreter holds after ``import app``, after the API's first request and after a lookup in
the lazily filled route table (chalicelib/lazy.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from chalice import Chalice

from bench.imports import api_gateway_event
from chalicelib.lazy import LazyBlueprint, LazyRoutes, RouteOutsidePrefix, lazy_handler

ROOT = Path(__file__).resolve().parents[2]

#: What no Lambda function should pay for before it needs it: templates and charts (the console,
#: e-mail), validation models, the AWS SDK (Powertools imports botocore's small package itself,
#: not its sessions and clients), and every route, use case, adapter and worker module.
HEAVY = ("jinja2", "pygal", "pydantic", "boto3", "botocore.session", "botocore.client")
APP_MODULES = (
    "chalicelib.api.",
    "chalicelib.service",
    "chalicelib.adapters",
    "chalicelib.domain",
    "chalicelib.bootstrap",
    "chalicelib.workers.",
)
#: Not the API's: the console (and its charts) and every worker.
NOT_THE_API = ("pygal", "chalicelib.api.console", "chalicelib.workers.")


def _modules_after(code: str) -> list[str]:
    """The module names a fresh interpreter holds after running ``code`` in the project root."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = {
        **config["stages"]["dev"]["environment_variables"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "/usr/bin:/bin",
    }
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def _matching(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules named by ``prefixes``: "a.b." its submodules, "a.b" the module and its submodules."""
    return [
        module
        for module in modules
        if any(
            module.startswith(p) if p.endswith(".") else module in (p,) or module.startswith(p + ".")
            for p in prefixes
        )
    ]


def test_importing_the_app_loads_no_route_use_case_worker_template_chart_model_or_aws_sdk() -> None:
    loaded = _modules_after("import app")
    assert _matching(loaded, HEAVY + APP_MODULES) == []


def test_the_apis_first_request_loads_neither_the_console_nor_any_worker() -> None:
    event = json.dumps(api_gateway_event("/v1/health"))
    loaded = _modules_after(
        f"import app, json\nresponse = app.app(json.loads({event!r}), None)\n"
        "assert response['statusCode'] == 200, response"
    )
    assert "chalicelib.api.meta" in loaded
    assert _matching(loaded, NOT_THE_API) == []


def test_every_worker_handler_the_template_names_is_an_attribute_of_app_without_importing_it() -> None:
    code = textwrap.dedent(
        """
        import app
        names = [source.name for source in app.app.event_sources] + list(app.app.handler_map)
        for name in names:
            handler = getattr(app, name)
            assert handler is app.app.handler_map[name], name
        assert not hasattr(app, "handle_batch")
        """
    )
    assert _matching(_modules_after(code), APP_MODULES) == []


# The route table on its own, with two blueprint modules written for the test.

_BLUEPRINT_MODULE = """
from chalice import Blueprint

{name} = Blueprint(__name__)


@{name}.route("{path}")
def view():
    return {{"module": __name__}}


def handle(event):
    return {{"handled_by": __name__, "event": event}}
"""


@pytest.fixture
def blueprint_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Modules ``lazy_a`` (route /a/one), ``lazy_b`` (/b/two) and ``lazy_stray`` (/elsewhere)."""
    package = f"lazy_routes_{tmp_path.name.replace('-', '_')}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    for module, path in (("lazy_a", "/a/one"), ("lazy_b", "/b/two"), ("lazy_stray", "/elsewhere")):
        source = _BLUEPRINT_MODULE.format(name="bp", path=path)
        (tmp_path / package / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def test_a_path_lookup_imports_only_the_blueprints_its_prefix_names(blueprint_modules: str) -> None:
    app = Chalice(app_name="lazy")
    prepared: list[str] = []
    routes = LazyRoutes(
        app,
        [
            LazyBlueprint("/a/", f"{blueprint_modules}.lazy_a:bp"),
            LazyBlueprint("/b/", f"{blueprint_modules}.lazy_b:bp"),
        ],
        before_first=lambda: prepared.append("once"),
    )
    app.routes = routes  # type: ignore[assignment]

    assert f"{blueprint_modules}.lazy_a" not in sys.modules
    assert list(routes["/a/one"]) == ["GET"]
    assert f"{blueprint_modules}.lazy_a" in sys.modules
    assert f"{blueprint_modules}.lazy_b" not in sys.modules
    assert prepared == ["once"]

    assert sorted(routes) == ["/a/one", "/b/two"]  # listing the table registers the rest
    assert f"{blueprint_modules}.lazy_b" in sys.modules
    assert prepared == ["once"]


def test_a_blueprint_with_a_route_outside_its_prefix_is_refused_when_registered(
    blueprint_modules: str,
) -> None:
    app = Chalice(app_name="lazy")
    routes = LazyRoutes(app, [LazyBlueprint("/a/", f"{blueprint_modules}.lazy_stray:bp")])
    app.routes = routes  # type: ignore[assignment]

    with pytest.raises(RouteOutsidePrefix, match="GET /elsewhere"):
        len(routes)


def test_a_lazy_handler_carries_its_name_and_imports_its_target_on_the_first_call(
    blueprint_modules: str,
) -> None:
    target = f"{blueprint_modules}.lazy_b"
    handler = lazy_handler("b_worker", f"{target}:handle")

    assert handler.__name__ == "b_worker"
    assert target not in sys.modules
    assert handler({"n": 1}) == {"handled_by": target, "event": {"n": 1}}
    assert target in sys.modules
