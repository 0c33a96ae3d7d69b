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

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin

GREATEST = "GREATEST({old}, {new})"
"""Only ever moves forward (PostgreSQL's GREATEST skips NULLs, so a first value is taken)."""
NEW_UNLESS_EMPTY = "COALESCE(NULLIF({new}, ''), {old})"
"""Takes the new text unless it is empty."""
OLD_UNLESS_NULL = "COALESCE({old}, {new})"
"""Fills the column only where it is still NULL."""

# PostgreSQL's wire protocol numbers bind parameters with 16 bits.
_MAX_PARAMS = 65_535


def insert_on_conflict(
    model: type[Model],
    objs: Sequence[Model],
    *,
    conflict: Sequence[str],
    update: Mapping[str, str | tuple[str, Sequence[Any]]] | None = None,
    returning: Sequence[str] = ("pk",),
    using: str | None = None,
) -> list[tuple]:
    """Insert ``objs`` in one statement per 65,535 parameters; return ``returning`` per row.

    ``conflict`` names the fields of a unique constraint (``ON CONFLICT (…)``). Without
    ``update`` the statement is ``DO NOTHING`` and only the rows really inserted come back
    (in no guaranteed order: match them on a returned key). With ``update``, each field name
    maps to an SQL template using ``{old}`` (the stored row) and ``{new}`` (``EXCLUDED``),
    optionally with parameters, e.g. ``("CASE WHEN {old} = %s THEN %s ELSE {old} END",
    ("closed", "open"))``; then every row comes back, inserted or updated, and two ``objs``
    must not hit the same stored row (PostgreSQL refuses to update a row twice in one
    statement). Rows are written in the order given: sort them to keep lock order fixed.

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

    # "stored", not "old": PostgreSQL 18 gives OLD and NEW a meaning of their own in RETURNING.
    head = f"INSERT INTO {quote(opts.db_table)} AS stored ({', '.join(quote(f.column) for f in fields)}) VALUES "
    tail = [f" ON CONFLICT ({', '.join(column(name) for name in conflict)})"]
    update_params: list[Any] = []
    if update:
        assignments = []
        for name, template in update.items():
            template, params = template if isinstance(template, tuple) else (template, ())
            col = column(name)
            assignments.append(f"{col} = " + template.format(old=f"stored.{col}", new=f"EXCLUDED.{col}"))
            update_params.extend(params)
        tail.append(" DO UPDATE SET " + ", ".join(assignments))
    else:
        tail.append(" DO NOTHING")
    tail.append(" RETURNING " + ", ".join(column(name) for name in returning))

    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, (_MAX_PARAMS - len(update_params)) // len(fields))
    results: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start : start + per_statement]
            params: list[Any] = []
            for obj in chunk:
                params.extend(f.get_db_prep_save(f.pre_save(obj, add=True), connection=connection) for f in fields)
            cursor.execute(head + ", ".join([row_sql] * len(chunk)) + "".join(tail), [*params, *update_params])
            results.extend(cursor.fetchall())
    return results
