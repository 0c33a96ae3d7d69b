"""Multi-row ``INSERT … ON CONFLICT … RETURNING`` built from a model's own fields.

Django's ``bulk_create(update_conflicts=True)`` cannot say "keep the greater of the old and
the new value" or "reopen only if closed" (its update is always ``col = EXCLUDED.col``), and
with ``ignore_conflicts`` it returns no ids at all, so it cannot tell which rows were really
inserted. ``insert_on_conflict`` writes the one statement PostgreSQL offers for that, with the
column list and the values taken from ``_meta`` and ``field.get_db_prep_save`` exactly as the
ORM's own INSERT does (``pre_save`` fills ``auto_now`` fields), so no column list is kept by
hand. Runs on the connection's current schema (django-tenants' search path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin

# An explicit cast to varchar(n) cuts longer text without a word; the INSERT's own assignment
# cast refuses it ("value too long"), so the arrays are cast to the unbounded type.
_LENGTH_MODIFIER = re.compile(r"^(varchar)\(\d+\)$")

GREATEST = "GREATEST({old}, {new})"
"""Only ever moves forward (PostgreSQL's GREATEST skips NULLs, so a first value is taken)."""
NEW_UNLESS_EMPTY = "COALESCE(NULLIF({new}, ''), {old})"
"""Takes the new text unless it is empty."""
OLD_UNLESS_NULL = "COALESCE({old}, {new})"
"""Fills the column only where it is still NULL."""


def insert_on_conflict(
    model: type[Model],
    objs: Sequence[Model],
    *,
    conflict: Sequence[str],
    update: Mapping[str, str | tuple[str, Sequence[Any]]] | None = None,
    returning: Sequence[str] = ("pk",),
    using: str | None = None,
) -> list[tuple]:
    """Insert ``objs`` in one statement, whatever their number; return ``returning`` per row.

    ``conflict`` names the fields of a unique constraint (``ON CONFLICT (…)``); empty, there
    is no ``ON CONFLICT`` and any conflict raises (``insert_many``). Without
    ``update`` the statement is ``DO NOTHING`` and only the rows really inserted come back
    (in no guaranteed order: match them on a returned key). With ``update``, each field name
    maps to an SQL template using ``{old}`` (the stored row) and ``{new}`` (``EXCLUDED``),
    optionally with parameters, e.g. ``("CASE WHEN {old} = %s THEN %s ELSE {old} END",
    ("closed", "open"))`` (a literal ``%`` is written ``%%``); then every row comes back,
    inserted or updated, and two ``objs`` must not hit the same stored row (PostgreSQL
    refuses to update a row twice in one statement). Rows are written in the order given:
    sort them to keep lock order fixed.

    Every concrete field except an auto primary key is written; ``returning`` values are the
    database's raw values (no ``from_db_value`` conversion). Raises what the database
    raises, e.g. ``IntegrityError`` for a unique constraint other than ``conflict``.
    """
    if not objs:
        return []
    opts = model._meta.concrete_model._meta
    if opts.parents:
        raise TypeError(f"{model.__name__}: multi-table inheritance needs one INSERT per table")
    fields = [f for f in opts.local_concrete_fields if not isinstance(f, AutoFieldMixin) and not f.generated]
    for field in fields:
        if hasattr(field, "get_placeholder"):
            raise TypeError(f"{model.__name__}.{field.name}: fields with a custom placeholder are not supported")
    connection = connections[using or router.db_for_write(model)]
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(opts.pk.column if name == "pk" else opts.get_field(name).column)

    casts = [field.cast_db_type(connection) for field in fields]
    if None in casts:
        raise TypeError(f"{model.__name__}: every field needs a database type")
    casts = [_LENGTH_MODIFIER.sub(r"\1", cast) for cast in casts]
    columns = ", ".join(quote(f.column) for f in fields)
    # One array parameter per column, unnested in order: the statement text stays short and
    # the same for any number of rows (psycopg caches its parsing; no 65,535-parameter cap),
    # and WITH ORDINALITY keeps the caller's row order, which is its lock order.
    # "stored", not "old": PostgreSQL 18 gives OLD and NEW a meaning of their own in RETURNING.
    sql = [
        f"INSERT INTO {quote(opts.db_table)} AS stored ({columns}) SELECT {columns} FROM unnest(",
        ", ".join(f"%b::{cast}[]" for cast in casts),
        f") WITH ORDINALITY AS given ({columns}, given_row) ORDER BY given_row",
    ]
    params: list[Any] = [[] for _ in fields]
    for obj in objs:
        for values, field in zip(params, fields, strict=True):
            values.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection=connection))
    target = ", ".join(column(name) for name in conflict)
    if conflict and update:
        assignments = []
        for name, template in update.items():
            template, update_params = template if isinstance(template, tuple) else (template, ())
            col = column(name)
            assignments.append(f"{col} = " + template.format(old=f"stored.{col}", new=f"EXCLUDED.{col}"))
            params.extend(update_params)
        sql.append(f" ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(assignments))
    elif conflict:
        sql.append(f" ON CONFLICT ({target}) DO NOTHING")
    sql.append(" RETURNING " + ", ".join(column(name) for name in returning))
    with connection.cursor() as cursor:
        cursor.execute("".join(sql), params)
        results = cursor.fetchall()
    return results


def insert_many(model: type[Model], objs: Sequence[Model], *, using: str | None = None) -> None:
    """``bulk_create`` for new rows, with the values sent as one binary array per column:
    sets each object's primary key as ``bulk_create`` does. Django's own sends text arrays,
    which psycopg builds in Python five to ten times slower (issue 9: a tenth of the replies
    worker under a burst). Raises ``IntegrityError`` on any unique conflict, like it."""
    if not objs:
        return
    returned = insert_on_conflict(model, objs, conflict=(), using=using)
    # One statement takes its ids from the sequence in the order it inserts, and it inserts
    # in the given order (ORDER BY given_row): the sorted ids are the objects' ids, in order.
    for obj, (pk,) in zip(objs, sorted(returned), strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = using or router.db_for_write(model)
