"""The house plan (DESIGN.md "Layout — target"), checked by reading the code.

Packages by concern, dependencies one way: cli → relay / ops / export / importing →
mail / channels → archive → the small shared modules (config, model, errors, ...).
Nothing imports cli; mail and channels never import each other; no import cycles, also
not inside a package; no SQL and no way to a connection outside archive/; no email built
outside mail/ (and the mbox writer); no channel named outside channels/. Imports are read
with `ast`, so function-level imports count too; an import under `if TYPE_CHECKING:` is
an annotation, not a dependency, and does not.

KNOWN lists the places that still break a rule while issue 18 is under way: each entry
is to go, none is to be added.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "im2mail"
SHARED = {"", "config", "errors", "model", "home", "secrets", "timeutil", "signing",
          "untrusted", "hours"}  # fmt: skip
LAYERS = {
    **dict.fromkeys(SHARED, 0),
    "archive": 1,
    "mail": 2,
    "channels": 2,
    "relay": 3,
    "ops": 3,
    "export": 3,
    "importing": 3,
    "testing": 3,
    "cli": 4,
    "__main__": 5,
}
# Imports between packages of one layer that the plan has: a transcript page is the HTML
# export's page; the demo runs against the API doubles.
SIDEWAYS = {("relay", "export"), ("ops", "testing")}
MAX_TOP_LEVEL = 12
MAX_LINES = 500
CHANNEL_NAMES = {"telegram", "viber", "messenger", "whatsapp"}
SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "CREATE ", "PRAGMA ")
# The ways to the archive's connection: its own modules' hooks and attribute, the module
# that opens one, and those that work on one.
CONNECTION_ATTRIBUTES = {"reading", "transaction", "_reading", "_transaction", "_db"}
CONNECTION_MODULES = {"im2mail.archive.db.connect", "im2mail.archive.rows",
                      "im2mail.archive.migrations"}  # fmt: skip

# Places that still break a rule (issue 18 removes them). Keys: rule -> set of entries.
KNOWN: dict[str, set[str]] = {
    "layers": set(),
    "sql": set(),
    "email": set(),
    "channel names": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"))


def _type_checking_only(tree_: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree_):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def _source(node: ast.ImportFrom, name: str) -> str | None:
    """The im2mail module a `from ... import` in module `name` imports from, else None."""
    if node.level:
        package = name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))
    if node.module and node.module.split(".")[0] == "im2mail":
        return node.module
    return None


@cache
def imports(name: str) -> frozenset[str]:
    """The im2mail modules `name` imports (a name imported from a package counts as the
    submodule when there is one, else as the package)."""
    known = modules()
    found: set[str] = set()
    module_tree = tree(name)
    skipped = _type_checking_only(module_tree)
    for node in ast.walk(module_tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            source = _source(node, name)
            if source is None:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in known else source)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "im2mail")
    found.discard(name)
    return frozenset(found)


def area(name: str) -> str:
    """The first part under im2mail: a package, a shared module, or "" (im2mail itself)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _check(rule: str, found: set[str]) -> None:
    known = KNOWN[rule]
    new = sorted(found - known)
    assert not new, f"{rule}: {new}"
    gone = sorted(known - found)
    assert not gone, f"{rule}: fixed, remove from KNOWN: {gone}"


# -- dependencies ---------------------------------------------------------------------------


def test_dependencies_run_one_way() -> None:
    found = set()
    for name in modules():
        for target in imports(name):
            a, b = area(name), area(target)
            if a == b or (a, b) in SIDEWAYS or LAYERS[a] == LAYERS[b] == 0:
                continue
            if LAYERS[a] <= LAYERS[b]:
                found.add(f"{name} -> {target}")
    _check("layers", found)


def test_nothing_imports_the_cli() -> None:
    users = {n for n in modules() if area(n) not in ("cli", "__main__")
             and any(area(t) == "cli" for t in imports(n))}  # fmt: skip
    assert not users


def test_mail_and_channels_never_import_each_other() -> None:
    crossing = {f"{n} -> {t}" for n in modules() for t in imports(n)
                if {area(n), area(t)} == {"mail", "channels"}}  # fmt: skip
    assert not crossing


def test_no_import_cycles_not_even_inside_a_package() -> None:
    graph = {n: {t for t in imports(n) if t in modules()} for n in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles


# -- the house ------------------------------------------------------------------------------


def test_few_modules_at_the_top_and_every_package_says_what_it_owns() -> None:
    top = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= MAX_TOP_LEVEL, sorted(top)
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(REPO)} says nothing of what it owns"


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}  # fmt: skip
    assert not big


# -- who does what ----------------------------------------------------------------------------


def _strings(name: str) -> list[str]:
    """The module's string constants, docstrings left out."""
    module_tree = tree(name)
    docs = {id(n.body[0].value) for n in ast.walk(module_tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}  # fmt: skip
    return [
        n.value
        for n in ast.walk(module_tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_no_sql_outside_the_archive() -> None:
    found = set()
    for name in modules():
        if area(name) == "archive":
            continue
        if any(t == "sqlite3" for t in _stdlib_imports(name)):
            found.add(f"{name}: imports sqlite3")
        if any(word in s for s in _strings(name) for word in SQL_WORDS):
            found.add(f"{name}: SQL")
    _check("sql", found)


def test_no_connection_outside_the_archive() -> None:
    """Other packages ask the archive named questions: none holds its connection, however
    it would be had (a hook of the archive, its attribute, a module that opens or works on
    one), and no question of the archive hands one out (only db.connect, which opens it)."""
    found = set()
    for name in modules():
        if area(name) == "archive":
            continue
        for node in ast.walk(tree(name)):
            if isinstance(node, ast.Attribute) and node.attr in CONNECTION_ATTRIBUTES:
                found.add(f"{name}: .{node.attr}")
        for target in imports(name) | _imported_names(name):
            if target in CONNECTION_MODULES:
                found.add(f"{name}: imports {target}")
    assert not found, sorted(found)
    from im2mail.archive import Archive

    public = {n for n in dir(Archive) if not n.startswith("_")}
    assert not public & CONNECTION_ATTRIBUTES
    handing_out = {f"{name}.{node.name}" for name in modules() if area(name) == "archive"
                   for node in ast.walk(tree(name))
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and not node.name.startswith("_")
                   and node.returns and "sqlite3" in ast.unparse(node.returns)}  # fmt: skip
    assert handing_out == {"im2mail.archive.db.connect"}


def _imported_names(name: str) -> set[str]:
    """module.name for each name imported from an im2mail module."""
    return {f"{source}.{alias.name}" for node in ast.walk(tree(name))
            if isinstance(node, ast.ImportFrom) and (source := _source(node, name))
            for alias in node.names}  # fmt: skip


def test_emails_are_built_only_in_mail() -> None:
    allowed = ("mail", "testing")
    found = {name for name in modules()
             if area(name) not in allowed and name != "im2mail.export.mbox"
             and any(t.split(".")[0] == "email" for t in _stdlib_imports(name))}  # fmt: skip
    _check("email", found)


# A channel's title as a word inside a string ("... with Telegram and Viber."): a help
# text or message that goes out of date when a channel is added.
CHANNEL_TITLES = re.compile(r"\b(Telegram|Viber|Messenger|WhatsApp)\b")


def test_no_channel_is_named_outside_channels() -> None:
    # The doubles, the demo (a Telegram shop) and the Telegram Desktop importer (and its
    # command) are about one messenger by nature.
    allowed = ("channels", "testing", "importing")
    found = set()
    for name in modules():
        if area(name) in allowed or name.startswith("im2mail.ops.demo"):
            continue
        if name == "im2mail.cli.importing":
            continue
        strings = _strings(name)
        named = {s for s in strings if s.lower() in CHANNEL_NAMES}
        named |= {m[0] for s in strings for m in CHANNEL_TITLES.finditer(s)}
        if named:
            found.add(f"{name}: {', '.join(sorted(named))}")
    _check("channel names", found)


@cache
def _stdlib_imports(name: str) -> frozenset[str]:
    found = set()
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return frozenset(found)


@pytest.mark.parametrize("rule", sorted(KNOWN))
def test_known_exceptions_name_real_modules(rule: str) -> None:
    for entry in KNOWN[rule]:
        assert entry.split(" ")[0].rstrip(":") in modules(), entry
