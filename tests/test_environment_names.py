"""One environment variable name per setting, the same in README, docs and code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bSIGNAGE_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def names_in(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        for name in NAME.findall(path.read_text()):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_variable_the_docs_name_is_read_by_the_code_and_every_one_read_is_documented() -> (
    None
):
    docs = names_in([ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    code = names_in(
        [p for folder in ("agent", "cloud", "sync", "player") for p in (ROOT / folder).glob("*.py")]
    )
    assert sorted(set(docs) - set(code)) == [], "documented but read by nothing"
    assert sorted(set(code) - set(docs)) == [], "read but not documented"
    # each program has its own prefix, so no name can be mistaken for another program's
    for name in code:
        assert name.startswith(("SIGNAGE_AGENT_", "SIGNAGE_CLOUD_", "SIGNAGE_ADMIN_")), name
