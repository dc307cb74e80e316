"""The package's shape: its modules import one another one way only (no cycle), and uvicorn's internals are
named in one private module."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import aiml_mock

PACKAGE = Path(aiml_mock.__file__).parent


def module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's modules `path` imports, anywhere in it (a lazy import inside a function is a dependency
    too). `from aiml_mock.x import y` counts as `aiml_mock.x.y` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports. The package root is left out: every module takes
    `__version__` from it, and it imports its public names only on first use (PEP 562)."""
    files = module_files()
    known = set(files) - {"aiml_mock"}
    return {name: imported_modules(path, known) - {name} for name, path in files.items() if name in known}


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert {"aiml_mock.web.app", "aiml_mock.web.admin", "aiml_mock.web.state", "aiml_mock.web.responses"} <= set(graph)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_the_admin_api_and_the_handlers_share_state_and_answers_without_importing_each_other() -> None:
    graph = import_graph()
    assert "aiml_mock.web.app" not in graph["aiml_mock.web.admin"]
    for module in ("aiml_mock.web.app", "aiml_mock.web.admin"):
        assert {"aiml_mock.web.state", "aiml_mock.web.responses"} <= graph[module], module


# uvicorn's public surface: the server and its config, the proxy-headers middleware, the worker supervisor that
# `uvicorn --workers` runs. Its protocols (`uvicorn.protocols`), whose private methods `fast` overrides, are
# named by `_protocol.py` alone.
UVICORN_PUBLIC = ("uvicorn", "uvicorn.middleware.proxy_headers", "uvicorn.supervisors")


def test_only_the_private_protocol_module_names_uvicorn_s_internals() -> None:
    naming = set()
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else [
                alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if any(module.startswith("uvicorn") and module not in UVICORN_PUBLIC for module in modules):
                naming.add(name)
    assert naming == {"aiml_mock.hosting._protocol"}


# The layers, bottom up: a layer imports only from the layers below it (and itself).
LAYERS = ("core", "web", "hosting", "tools")


def layer_of(module: str) -> str:
    return module.split(".")[1]


def test_every_module_lives_in_a_layer() -> None:
    loose = {name for name in import_graph() if layer_of(name) not in LAYERS and name != "aiml_mock.__main__"}
    assert not loose, f"modules outside core/ web/ hosting/ tools/: {sorted(loose)}"


def test_each_layer_imports_only_the_layers_below_it() -> None:
    upward = sorted(
        f"{module} -> {imported}" for module, imports in import_graph().items() if layer_of(module) in LAYERS
        for imported in imports if LAYERS.index(layer_of(imported)) > LAYERS.index(layer_of(module)))
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


HTTP_LIBRARIES = ("starlette", "uvicorn", "httpx", "python_multipart", "jinja2")


def test_the_core_knows_nothing_of_http() -> None:
    naming = set()
    for name, path in module_files().items():
        if name.startswith("aiml_mock.core"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else [
                    alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                naming.update(f"{name} imports {module}" for module in modules
                              if module.split(".")[0] in HTTP_LIBRARIES)
    assert not naming, sorted(naming)
