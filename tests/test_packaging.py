"""The wheel carries templates/ and static/ from the repository root, and Django finds them
after ``pip install`` into a clean virtualenv, far from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

ROOT = Path(__file__).resolve().parent.parent

RENDER = textwrap.dedent(
    """
    import django, crosssell_plugin, pathlib
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django.contrib.staticfiles", "crosssell_plugin"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        STATIC_URL="/static/",
    )
    django.setup()
    from django.contrib.staticfiles import finders
    from django.template.loader import render_to_string
    item = {"title": "Cléo from 5 to 7 <b>", "url": "/films/cleo/", "image_url": "", "kind": "film"}
    html = render_to_string("crosssell/block.html", {"recommendations": [
        {"item": item, "price": "9.99 EUR", "reasons": ["Same director: Agnès Varda"]}]})
    print("PACKAGE", pathlib.Path(crosssell_plugin.__file__).parent)
    print("CSS", finders.find("crosssell/crosssell.css"))
    print(html)
    """
)


def test_checkout_finds_the_root_templates_and_static_files() -> None:
    html = render_to_string("crosssell/block.html", {"recommendations": []})
    assert 'class="crosssell-block"' in html
    assert (
        Path(finders.find("crosssell/crosssell.css")).read_text()
        == (ROOT / "static/crosssell/crosssell.css").read_text()
    )


@pytest.mark.slow
def test_wheel_installs_into_a_clean_venv_and_renders_a_template(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ROOT],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("crosssell-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "crosssell_plugin/templates/crosssell/block.html" in names
    assert "crosssell_plugin/static/crosssell/crosssell.css" in names
    assert "integrations/oscar/adapter.py" in names and "crosssell_plugin/migrations/0001_initial.py" in names
    assert not any(n.startswith(("tests/", "example_project/", "bench/")) for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # Dependencies come from the package index (or pip's cache); the project only from the wheel.
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    out = subprocess.run(
        [python, "-c", RENDER], check=True, capture_output=True, text=True, cwd=tmp_path, env=env
    ).stdout
    package_dir = out.split("PACKAGE ", 1)[1].split("\n", 1)[0]
    css_path = out.split("CSS ", 1)[1].split("\n", 1)[0]
    assert package_dir.startswith(str(env_dir)), "imported from the checkout, not from the installed wheel"
    assert css_path.startswith(str(env_dir)) and css_path.endswith("crosssell/crosssell.css")
    assert "Cléo from 5 to 7 &lt;b&gt;" in out and "Same director: Agnès Varda" in out and "Why this?" in out
