"""`python -m cloud`: the same as the `signage-cloud` command."""

from __future__ import annotations

from cloud.cli import main

raise SystemExit(main())
