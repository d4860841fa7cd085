"""Versioned data migrations over the single DynamoDB table.

A data migration rewrites stored items in place: a new attribute filled in,
a value reshaped. Each one is a module of this package named
``m{NNNN}_{what_it_does}.py`` (four digits, then lower-case words), which
defines ``migration = DataMigration(number=NNNN, ...)``. The number in the
file name and in the declaration must agree; migrations run in number order
and each runs once per table (``manage.py migrate_data``; the runner and its
checkpoints are in :mod:`lifestyle.data_migrations.runner`). Numbers start at
0002: schema version 1 is what items were first written as.

How to ship one, so no request ever meets an item it cannot read:

1. Teach the code both shapes first. A new attribute goes on the model with
   a default or ``null=True``, so old items still load, and so PynamoDB keeps
   it when the API rewrites a whole item (it drops attributes the model does
   not declare). Deploy that.
2. Add the migration module and deploy again.
3. Run ``migrate_data`` (``--dry-run`` first). It is resumable and
   idempotent, so an interrupted or repeated run is harmless.

A migration works on plain Python values (``str``, ``Decimal``, ``bool``,
``dict``, ``list``, ``set``, ``Binary``: boto3's DynamoDB type mapping), not
on models: it has to read items written by any past version of the code,
which today's models may not describe, and it is faster without them.
``transform`` must be pure and idempotent (an item it already migrated
comes back equal, so a rerun writes nothing), must not change the key
(``pk``, ``sk``) or ``version``: the runner owns the version, and bumps it on
every write so the API's optimistic locking sees the change.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Item = dict[str, Any]

MODULE_NAME = re.compile(r"m(\d{4})_[a-z0-9]+(?:_[a-z0-9]+)*")
KEY_ATTRIBUTES = ("pk", "sk")
VERSION_ATTRIBUTE = "version"


class RegistryError(Exception):
    """The migrations package is inconsistent (a programming error)."""


@dataclass(frozen=True)
class DataMigration:
    number: int
    description: str  # one line, shown by ``migrate_data --list``
    applies_to: Callable[[Item], bool]  # cheap test: does this item need it?
    transform: Callable[[Item, datetime], Item]  # the item as it should be stored

    @property
    def label(self) -> str:
        return f"{self.number:04d}"

    def __str__(self) -> str:
        return f"{self.label}: {self.description}"


def discover(package: str = __name__) -> list[DataMigration]:
    """Every migration of ``package``, in number order."""
    root = importlib.import_module(package)
    found: dict[int, DataMigration] = {}
    for info in pkgutil.iter_modules(root.__path__):
        match = MODULE_NAME.fullmatch(info.name)
        if match is None:
            if re.match(r"m?\d", info.name):
                raise RegistryError(
                    f"{package}.{info.name}: a migration module is named "
                    "m{NNNN}_{lower_case_words}, e.g. m0002_schema_version_2."
                )
            continue  # the runner and other helpers
        module = importlib.import_module(f"{package}.{info.name}")
        migration = getattr(module, "migration", None)
        if not isinstance(migration, DataMigration):
            raise RegistryError(f"{module.__name__} defines no `migration = DataMigration(...)`.")
        if migration.number != int(match[1]):
            raise RegistryError(
                f"{module.__name__} declares number {migration.number}; its name says "
                f"{int(match[1])}."
            )
        if migration.number in found:
            raise RegistryError(f"Two migrations are numbered {migration.label}.")
        if not migration.description or "\n" in migration.description:
            raise RegistryError(f"{module.__name__}: the description is one non-empty line.")
        found[migration.number] = migration
    return [found[number] for number in sorted(found)]


def parse_number(text: str) -> int:
    """``2``, ``0002`` or ``m0002`` as a migration number; ValueError if not."""
    digits = text.strip().lower().removeprefix("m")
    if not digits.isdigit() or len(digits) > 4:
        raise ValueError(f"{text!r} is not a migration number (like 0002).")
    return int(digits)
