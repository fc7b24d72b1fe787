"""Build hook: the wheel carries the templates, static files, translations (compiled)
and default settings under ``idp/_data`` (idp.resources finds them there), so an
installed wheel serves without the source tree. Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("templates", "static", "translations", "config")  # idp.resources.SHIPPED


class BuildWithData(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        target = Path(self.build_lib) / "idp" / "_data"
        shutil.rmtree(target, ignore_errors=True)
        for name in SHIPPED:
            shutil.copytree(ROOT / name, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "Procfile"))
        _compile_catalogues(target / "translations")


def _compile_catalogues(folder: Path) -> None:
    """Each messages.po as messages.mo (compiled catalogues are not kept in git)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in folder.glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as source:
            catalogue = read_po(source)
        with po.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalogue)


setup(cmdclass={"build_py": BuildWithData})
