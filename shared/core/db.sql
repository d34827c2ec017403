-- name: row_type_oid
-- The oid of a table's row type (see db.null_row). The regclass cast refuses a table that
-- does not exist.
select reltype::integer as oid from pg_catalog.pg_class where oid = %(table)s::regclass
