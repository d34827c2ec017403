"""Split a migration file into statements exactly as the Supabase CLI does.

The CLI records each applied file in supabase_migrations.schema_migrations together with
its statements, split by its own tokenizer. To let either tool take over from the other,
`restoreclick db` must record the very same array, so this is a re-implementation of
that tokenizer's observable behaviour: a statement ends at a semicolon that is outside
quotes ('...' and "..."), dollar quotes ($tag$...$tag$), comments (-- and nested
/* */), parentheses and BEGIN ATOMIC ... END bodies; a backslash shields the next
character. Each piece keeps its comments, loses trailing semicolons and surrounding
white space, and empty pieces are dropped.
"""

from __future__ import annotations

import re

_TAG_CHAR = re.compile(r"\w", re.UNICODE)


def _is_atomic_start(sql: str, end: int) -> bool:
    """True when sql[:end] ends with 'ATOMIC' preceded by white space (BEGIN ATOMIC)."""
    start = end - len("ATOMIC")
    return start > 0 and sql[start:end].upper() == "ATOMIC" and sql[start - 1].isspace()


def split_statements(sql: str) -> list[str]:
    """The statements of `sql`, as the Supabase CLI would record them."""
    pieces: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    # Closing delimiters still owed: ')' for each open parenthesis, 'END' for BEGIN ATOMIC.
    nesting: list[str] = []
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            i = _skip_quoted(sql, i)
            continue
        if ch == "$":
            close = _dollar_tag(sql, i)
            if close is not None:
                found = sql.find(close, i + len(close))
                i = n if found < 0 else found + len(close)
                continue
        elif ch == "-" and sql.startswith("--", i):
            newline = sql.find("\n", i + 2)
            i = n if newline < 0 else newline + 1
            continue
        elif ch == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
            continue
        elif ch == "\\":
            i += 2
            continue
        elif ch == "(":
            nesting.append(")")
        elif ch == ")" and nesting and nesting[-1] == ")":
            nesting.pop()
        elif ch in "cC" and _is_atomic_start(sql, i + 1):
            nesting.append("END")
        elif nesting and nesting[-1] == "END" and sql[i - 2 : i + 1].upper() == "END":
            nesting.pop()
        elif ch == ";" and not nesting:
            pieces.append(sql[start : i + 1])
            start = i + 1
        i += 1
    pieces.append(sql[start:])
    return [s for s in (p.rstrip(";").strip() for p in pieces) if s]


def _skip_quoted(sql: str, i: int) -> int:
    """Index just past the quoted string or identifier opening at i ('' and "" escape)."""
    quote = sql[i]
    j = i + 1
    while True:
        j = sql.find(quote, j)
        if j < 0:
            return len(sql)
        if sql.startswith(quote * 2, j):
            j += 2
            continue
        return j + 1


def _dollar_tag(sql: str, i: int) -> str | None:
    """The $tag$ opening at i, or None when the $ starts no dollar quote."""
    j = i + 1
    while j < len(sql) and _TAG_CHAR.match(sql[j]):
        j += 1
    if j < len(sql) and sql[j] == "$":
        return sql[i : j + 1]
    return None


def _skip_block_comment(sql: str, i: int) -> int:
    depth = 0
    j = i
    while j < len(sql):
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(sql)
