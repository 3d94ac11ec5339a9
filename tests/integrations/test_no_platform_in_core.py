"""The core knows no platform by name: platforms are found through the registry.

The rule: in ``crosssell_plugin/`` code -- identifiers, imports, and string literals that are
values (no space in them: a platform id, a dotted path, a key) -- none of the platform words
below appears. Allowed: comments, docstrings and prose strings (help texts and error messages
may give ``oscar:default`` as an example), migrations (history), and ``events.Platform``, the
one list of platform ids a Store may have. The core's templates are checked as text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "crosssell_plugin"
WORDS = re.compile(r"oscar|shopify|stripe|teachable|vimeo", re.IGNORECASE)
#: the files that still name a platform in code, until they ask the registry instead
#: (``crosssell_plugin.platforms.platform_order_ref`` / ``site_store_ref``); the list only shrinks
KNOWN: set[str] = {
    "crosssell_plugin/shoppers.py",  # oscar_store_external_id(), still used by the template tags
    "crosssell_plugin/surfaces/blocks.py",  # an Oscar order handed to {% crosssell_block %}
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def code_mentions(path: Path) -> list[str]:
    """``line: text`` of each platform word in the code of ``path`` (not its comments or docstrings)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    skipped: set[int] = set()
    if path == ROOT / "events" / "kinds.py":  # events.Platform, the one list of platform ids
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "Platform":
                skipped |= {id(child) for child in ast.walk(node)}
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped or id(node) in docstrings:
            continue
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if not any(char.isspace() for char in node.value):  # prose may give examples
                texts.append(node.value)
        elif isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            texts.append(node.name)
        elif isinstance(node, ast.alias):
            texts.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            texts.append(node.module)
        elif isinstance(node, ast.keyword) and node.arg:
            texts.append(node.arg)
        elif isinstance(node, ast.arg):
            texts.append(node.arg)
        for text in texts:
            if WORDS.search(text):
                hits.append((getattr(node, "lineno", 0), text[:80]))
    return [f"{line}: {text!r}" for line, text in sorted(hits)]


def core_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def test_the_checker_finds_a_platform_in_code_and_not_in_comments(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Works with Shopify."""\n'
        "# Stripe sends this\n"
        "def f(store):\n"
        '    """For Oscar stores."""\n'
        '    return store.platform == "oscar"\n'
        "from x import shopify_client\n"
        'ERROR = "give a store such as stripe:acct_1"\n'
    )
    assert [hit.split(":")[0] for hit in code_mentions(sample)] == ["5", "6"]


def test_no_platform_is_named_in_core_code() -> None:
    offenders = {}
    for path in core_files():
        relative = str(path.relative_to(ROOT.parent))
        hits = code_mentions(path)
        if hits and relative not in KNOWN:
            offenders[relative] = hits
    assert offenders == {}, "name platforms through crosssell_plugin.platforms, not in the core: " + repr(offenders)


def test_the_known_exceptions_still_need_their_exception() -> None:
    """An entry of KNOWN whose file no longer names a platform must leave the list."""
    stale = [name for name in KNOWN if (ROOT.parent / name).exists() and not code_mentions(ROOT.parent / name)]
    assert stale == []


def test_core_templates_name_no_platform() -> None:
    templates = [p for p in (ROOT / "templates").rglob("*") if p.is_file() and p.suffix in (".html", ".txt")]
    assert templates, "the core's templates were not found"
    offenders = [str(p) for p in templates if WORDS.search(p.read_text())]
    assert offenders == []
