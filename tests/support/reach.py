"""What a Lambda handler can reach, read from the source: the `ripen` modules it may import (at the
top or lazily inside functions) and the settings (environment variables) that code reads.

Static on purpose: it sees the code paths no sample event takes. `ripen.app.App` is followed part
by part: a handler that only uses `app().links` does not reach the sender's parts, and the modules a
part imports lazily count only when that part is used. Everything else counts module by module, so
the answer may be a little more than a run needs, never less.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ripen.config import Settings

PACKAGE = "ripen"
APP_MODULE = "ripen.app"
SETTING_ALIASES = {name: f.alias for name, f in Settings.model_fields.items() if f.alias}
# Set by template.yaml for every function and read by Powertools itself, not by `Settings`.
POWERTOOLS_VARIABLES = frozenset(
    {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_TRACE_DISABLED"}
)


@dataclass
class Reach:
    modules: set[str] = field(default_factory=set)
    app_parts: set[str] = field(default_factory=set)
    settings: set[str] = field(default_factory=set)  # field names of Settings
    environ: set[str] = field(default_factory=set)  # os.environ / os.getenv reads by literal name

    @property
    def variables(self) -> set[str]:
        return {SETTING_ALIASES[name] for name in self.settings} | self.environ


@dataclass(frozen=True)
class _Code:
    imports: frozenset[str]
    attributes: frozenset[str]  # every attribute name used (settings fields are matched by name)
    parts: frozenset[str]  # attributes taken from the App: `app().x`, `a.x` after `a = app()`, `self.x` in App
    environ: frozenset[str]


def module_files(source: Path) -> dict[str, Path]:
    files = {}
    for path in (source / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(source).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def reach(source: Path, module: str) -> Reach:
    """Everything `module` (a handler's module) can reach. (Each file is read and scanned once per
    test process: the source does not change during a run, and a dozen tests ask.)"""
    modules = _modules(source)
    parts, app_top = _app(source)
    found = Reach()
    todo: list[tuple[str, str]] = [("module", module)]
    while todo:
        kind, name = todo.pop()
        if kind == "module":
            if name in found.modules or name not in modules:
                continue
            found.modules.add(name)
            parent = name.rpartition(".")[0]
            if parent in modules:
                todo.append(("module", parent))
            code = app_top if name == APP_MODULE else _code(source, name)
        else:
            if name in found.app_parts:
                continue
            found.app_parts.add(name)
            code = parts[name]
        todo += [("module", m) for m in code.imports]
        todo += [("part", a) for a in code.parts if a in parts]
        found.settings |= {a for a in code.attributes if a in SETTING_ALIASES}
        found.environ |= code.environ
    return found


@cache
def _modules(source: Path) -> dict[str, Path]:
    return module_files(source)


@cache
def _app(source: Path) -> tuple[dict[str, _Code], _Code]:
    """The parts of `App` (each property or method on its own) and the rest of ripen/app.py."""
    modules = _modules(source)
    tree = ast.parse(modules[APP_MODULE].read_text(encoding="utf-8"))
    parts: dict[str, _Code] = {}
    rest: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "App":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                    parts[item.name] = _scan([item], APP_MODULE, modules, is_package=False, app_names={"self"})
        elif not _is_type_checking(node):
            rest.append(node)
    return parts, _scan(rest, APP_MODULE, modules, is_package=False)


@cache
def _code(source: Path, name: str) -> _Code:
    modules = _modules(source)
    path = modules[name]
    body = [node for node in ast.parse(path.read_text(encoding="utf-8")).body if not _is_type_checking(node)]
    return _scan(body, name, modules, is_package=path.name == "__init__.py")


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _scan(
    body: list[ast.stmt], name: str, modules: dict[str, Path], *, is_package: bool, app_names: set[str] | None = None
) -> _Code:
    imports: set[str] = set()
    attributes: set[str] = set()
    parts: set[str] = set()
    environ: set[str] = set()
    app_names = set(app_names or ()) | _bound_to_app(body)
    for top in body:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                imports |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, is_package)
                imports.add(base)
                imports |= {f"{base}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Attribute):
                attributes.add(node.attr)
                if _is_app(node.value, app_names):
                    parts.add(node.attr)
            elif isinstance(node, ast.Call):
                environ |= _environ_call(node)
            elif (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) == "os.environ"
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                environ.add(node.slice.value)
    found = frozenset(i for i in imports if i in modules)
    return _Code(found, frozenset(attributes), frozenset(parts), frozenset(environ))


def _is_app(node: ast.expr, app_names: set[str]) -> bool:
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "app"
    return isinstance(node, ast.Name) and node.id in app_names


def _bound_to_app(body: list[ast.stmt]) -> set[str]:
    """Names assigned `app()` anywhere in this code (`a = app()`)."""
    names = set()
    for top in body:
        for node in ast.walk(top):
            if isinstance(node, ast.Assign) and _is_app(node.value, set()):
                names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = name.split(".") if is_package else name.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _environ_call(node: ast.Call) -> set[str]:
    called = ast.unparse(node.func)
    if called in {"os.getenv", "os.environ.get", "environ.get", "getenv"} and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return {first.value}
    return set()
