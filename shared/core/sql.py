"""Every query the shop runs, loaded once from the named `.sql` files in shared/.

Each folder keeps its queries beside the code that runs them (orders/fulfilment.sql
beside orders/fulfilment.py), so a reader finds a statement where its caller lives.

A file holds one or more queries, each introduced by a `-- name: <query_name>` line.
Queries use psycopg named parameters (`%(order_id)s`). Names are unique across files.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def _parse(text: str, source: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    matches = list(_NAME_LINE.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip().rstrip(";").strip()
        if not body:
            raise ValueError(f"{source}: query {match.group(1)!r} is empty")
        queries[match.group(1)] = body
    return queries


def load_queries(folder: Path | None = None) -> dict[str, str]:
    """Read every `*.sql` file under `folder` (shared/ by default) into one name -> query dict."""
    folder = folder or Path(__file__).parent.parent
    queries: dict[str, str] = {}
    for path in sorted(folder.rglob("*.sql")):
        for name, body in _parse(path.read_text(encoding="utf-8"), path.name).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice (again in {path.relative_to(folder)})")
            queries[name] = body
    return queries


QUERIES: dict[str, str] = load_queries()
