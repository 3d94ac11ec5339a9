"""The core knows no platform by name: platforms are found through the registry.

The rule: in ``crosssell_plugin/`` code -- identifiers (names, attributes, functions, classes,
arguments, keywords, import names and aliases, exception and match names), imports, and string
or bytes literals that are values (no space in them once stripped: a platform id, a dotted path,
a key, a piece of an f-string) -- none of the platform words below appears. Allowed: comments,
docstrings and prose strings (help texts and error messages may give ``oscar:default`` as an
example), migrations (history), and ``events.Platform``, the one list of platform ids a Store may
have. There are no other exceptions. The core's templates and static files are checked as text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "crosssell_plugin"
#: the ids of the platforms crosssell integrates (``events.Platform``), in any case
PLATFORM_IDS = ("oscar", "shopify", "stripe", "teachable", "vimeo")
WORDS = re.compile("|".join(PLATFORM_IDS), re.IGNORECASE)


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
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if not any(char.isspace() for char in text.strip()):  # prose may give examples
                texts.append(text)
        elif isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            texts.append(node.name)
        elif isinstance(node, ast.alias):
            texts.extend(filter(None, (node.name, node.asname)))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            texts.append(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            texts.extend(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            texts.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            texts.append(node.rest)
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


def test_the_checker_finds_every_platform_id_in_every_kind_of_code(tmp_path: Path) -> None:
    lines = {
        "a string value": 'KEY = "{word}"',
        "a value padded with spaces": 'KEY = " {word} "',
        "a piece of an f-string": 'KEY = f"{{prefix}} {word}"',
        "a bytes value": 'KEY = b"{word}"',
        "a dict key": 'OPTIONS = {{"{word}": 1}}',
        "a name": "{word}_store = None",
        "an attribute": "value = settings.{word}_store",
        "a function": "def {word}_store(): pass",
        "a class": "class {word}Store: pass",
        "an argument": "def f({word}_id): pass",
        "a keyword": "f({word}_id=1)",
        "an import": "import {word}",
        "an import alias": "import json as {word}_json",
        "a from-import": "from {word}.core import loading",
        "an imported name": "from x import {word}_client",
        "an exception name": "try:\n    pass\nexcept Exception as {word}_error:\n    pass",
        "a global": "def f():\n    global {word}_cache",
        "a match capture": "match x:\n    case [{word}_id]:\n        pass",
        "a match rest": "match x:\n    case {{**{word}_rest}}:\n        pass",
    }
    for word in PLATFORM_IDS:
        for case in (word, word.upper(), word.title()):
            for what, line in lines.items():
                sample = tmp_path / "sample.py"
                sample.write_text(line.format(word=case, prefix="{prefix}") + "\n")
                assert code_mentions(sample), f"{what} naming {case!r} was not found: {line.format(word=case)}"


def test_the_checker_leaves_prose_docstrings_and_the_platform_list_alone(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Every platform: Oscar, Shopify, Stripe, Teachable, Vimeo OTT."""\n'
        "class Adapter:\n"
        '    """Shopify webhooks."""\n'
        "    # a Stripe event\n"
        '    hint = "write a store such as oscar:default"\n'
    )
    assert code_mentions(sample) == []
    assert code_mentions(ROOT / "events" / "kinds.py") == []  # events.Platform may list them


def test_no_platform_is_named_in_core_code() -> None:
    offenders = {}
    for path in core_files():
        hits = code_mentions(path)
        if hits:
            offenders[str(path.relative_to(ROOT.parent))] = hits
    assert offenders == {}, "name platforms through crosssell_plugin.platforms, not in the core: " + repr(offenders)


def test_the_check_reads_the_whole_core() -> None:
    names = {str(path.relative_to(ROOT.parent)) for path in core_files()}
    for expected in (
        "crosssell_plugin/shoppers.py",
        "crosssell_plugin/surfaces/blocks.py",
        "crosssell_plugin/templatetags/crosssell.py",
        "crosssell_plugin/platforms.py",
    ):
        assert expected in names


def test_core_templates_and_static_files_name_no_platform() -> None:
    files = [p for folder in ("templates", "static") for p in (ROOT / folder).rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".html", ".txt", ".css"}, "the core's templates were not found"
    offenders = [str(p) for p in files if WORDS.search(p.read_text())]
    assert offenders == []
