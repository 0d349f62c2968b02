"""The agent's version: the one place it is written.

`pyproject.toml` reads it for the Python distribution, `packaging/build_deb.py` for the
Debian package and its `/opt/signage-agent/<version>/` folder, and `signage-agent --version`
prints it. Kept free of imports so all three can read it cheaply.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
