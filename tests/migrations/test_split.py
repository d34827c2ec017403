"""The statement splitter must cut files exactly where the Supabase CLI cuts them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.migrations.split import split_statements


def test_splits_on_semicolons_and_trims_like_the_cli() -> None:
    assert split_statements("select 1;\n\nselect 2 ;  \n") == ["select 1", "select 2"]


def test_keeps_a_leading_comment_with_its_statement() -> None:
    sql = "-- first; not a split\nselect 1;\n/* block; */ select 2;"
    assert split_statements(sql) == ["-- first; not a split\nselect 1", "/* block; */ select 2"]


def test_semicolons_inside_quotes_identifiers_and_dollar_quotes_do_not_split() -> None:
    sql = (
        "insert into t values ('a;b', 'it''s; fine');\n"
        'create table "odd;name" (x int);\n'
        "create function f() returns int language sql as $body$ select 1; $body$;\n"
        "do $$ begin perform 1; end $$;"
    )
    assert split_statements(sql) == [
        "insert into t values ('a;b', 'it''s; fine')",
        'create table "odd;name" (x int)',
        "create function f() returns int language sql as $body$ select 1; $body$",
        "do $$ begin perform 1; end $$",
    ]


def test_nested_block_comments_and_parentheses() -> None:
    sql = "/* outer /* inner; */ still; */ select (1;2);select 3"
    assert split_statements(sql) == ["/* outer /* inner; */ still; */ select (1;2)", "select 3"]


def test_begin_atomic_body_is_one_statement() -> None:
    sql = "create function f() returns int language sql\nbegin atomic\n  select 1;\n  select 2;\nend;\nselect 3;"
    assert split_statements(sql) == [
        "create function f() returns int language sql\nbegin atomic\n  select 1;\n  select 2;\nend",
        "select 3",
    ]


def test_backslash_shields_the_next_character_outside_quotes_only() -> None:
    assert split_statements("select 1 \\; select 2;select 3") == ["select 1 \\; select 2", "select 3"]
    # Inside a quote the CLI gives a backslash no meaning, so E'\'' ends the quote early.
    # We record what the CLI records, odd as it is.
    assert split_statements("select E'\\';';select 2") == ["select E'\\'", "';select 2"]


def test_empty_and_comment_only_input() -> None:
    assert split_statements("") == []
    assert split_statements(" ;\n; ") == []
    assert split_statements("-- only a comment\n") == ["-- only a comment"]


@given(
    st.lists(
        st.sampled_from(
            [
                "select 1",
                "select 'a;b'",
                "select $$x;y$$",
                "select (1;2)",
                "-- c;\nselect 2",
                "/* x; */ select 3",
                'select "q;r"',
            ]
        ),
        min_size=1,
        max_size=8,
    )
)
def test_joining_statements_and_splitting_them_gives_them_back(statements: list[str]) -> None:
    assert split_statements(";\n".join(statements) + ";") == statements
