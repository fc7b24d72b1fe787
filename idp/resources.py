"""Where Clef's files are: templates, static files, translations and default settings.

In a checkout (``make run``, the tests) they are the folders at the project's root,
edited in place. An installed wheel carries copies under ``idp/_data/`` (setup.py puts
them there at build time), so ``pip install`` of the wheel is enough to serve.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent
BUNDLED = PACKAGE_DIR / "_data"
# Folders shipped in the wheel (setup.py copies exactly these).
SHIPPED = ("templates", "static", "translations", "config")


def in_checkout() -> bool:
    """True when running from the source tree (its pyproject.toml beside the package)."""
    return (CHECKOUT_ROOT / "pyproject.toml").is_file()


def resource(name: str) -> Path:
    """The folder ``name`` (one of :data:`SHIPPED`), from the checkout or the wheel."""
    return (CHECKOUT_ROOT if in_checkout() else BUNDLED) / name


def base_dir() -> Path:
    """What a relative ``service.instance_dir`` is under: the checkout's root, or for an
    installed wheel the working directory (never the site-packages folder)."""
    return CHECKOUT_ROOT if in_checkout() else Path.cwd()
