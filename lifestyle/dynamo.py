"""The single DynamoDB table: base model, key builders, and the few writes
PynamoDB cannot express.

Every entity lives in one table under ``pk``/``sk`` (keys from the runbook:
``USER#{user_id}`` / ``GOAL#{goal_id}``), told apart by the ``type``
discriminator. Every item carries ``schema_version``, ``created_at``,
``updated_at`` and ``version`` (optimistic locking).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from pynamodb.attributes import (
    Attribute,
    DiscriminatorAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection.table import TableConnection
from pynamodb.constants import NUMBER
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from lifestyle.timeutil import utcnow

T = TypeVar("T", bound="TableItem")


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def goal_sk(goal_id: str) -> str:
    return f"GOAL#{goal_id}"


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number kept exact: PynamoDB's NumberAttribute goes through
    float, which would turn a target of 0.1 km into 0.1000000000000000055."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(value)

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class ChangeIndex(GlobalSecondaryIndex["TableItem"]):
    """``by_change``: a user's synced items in the order they changed. On
    the base model, because it spans every kind of item (PynamoDB filters
    a subclass's queries to that subclass)."""

    class Meta:
        index_name = "by_change"
        projection = AllProjection()

    sync_pk = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class TableItem(Model):
    """Base of every item in the table."""

    class Meta:
        table_name = settings.DYNAMODB_TABLE
        region = settings.AWS_REGION
        host = settings.AWS_ENDPOINT_URL
        # botocore's retry mode and attempts come from settings (see
        # _get_connection); this is the batch writes' retry budget.
        max_retry_attempts = settings.AWS_MAX_ATTEMPTS - 1
        connect_timeout_seconds = 3
        read_timeout_seconds = 10

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = DiscriminatorAttribute()
    schema_version = NumberAttribute(default=1)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    # When data migration 0002 (lifestyle/data_migrations) rewrote the item;
    # None on every item it has not touched.
    migrated_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()
    # ``USER#{user_id}`` on the items a user's devices keep copies of, which
    # puts them in the change index delta sync reads (sync/models.py).
    sync_pk = UnicodeAttribute(null=True)
    by_change = ChangeIndex()

    @classmethod
    def _get_connection(cls) -> TableConnection:
        """PynamoDB's connection, its botocore client retrying as boto3's do
        (``lifestyle.aws.retry_config``), counted in the request log, and
        shared by every model class.

        PynamoDB 6.1 takes a retry mode only from its global settings file
        (``retry_configuration``; Meta has no such option) and otherwise
        always uses botocore's standard mode; its ``Connection`` builds the
        client on first use from ``_retry_configuration``, so setting that
        on a new connection gives the client our mode and attempts.
        tests/lifestyle/test_throttling.py checks the client's config.

        PynamoDB gives each model class its own connection and so its own
        botocore client, some 85 ms of a cold start each (the first request
        touches three model classes). All our models share one table and one
        configuration, so they share the first connection's client."""
        known = cls._connection
        connection = super()._get_connection()
        if connection is not known:  # new: its botocore client does not exist yet
            connection.connection._client = _shared_client(connection)
        return connection


_client_lock = threading.Lock()
_client: Any = None


def _shared_client(connection: TableConnection) -> Any:
    """The process's one botocore DynamoDB client for the models, built by
    the first connection that needs it (botocore clients are thread-safe)."""
    from lifestyle.aws import retry_config
    from lifestyle.request_log import instrument

    global _client
    with _client_lock:
        if _client is None:
            connection.connection._retry_configuration = retry_config()
            _client = connection.connection.client
            instrument(_client)
        return _client


def _model_classes() -> list[type[TableItem]]:
    found: list[type[TableItem]] = []
    pending: list[type[TableItem]] = [TableItem]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def configure_models() -> None:
    """Point every model at the table and endpoint in settings and drop
    cached connections (call after changing AWS settings)."""
    meta = TableItem.Meta
    meta.table_name = settings.DYNAMODB_TABLE
    meta.region = settings.AWS_REGION
    meta.host = settings.AWS_ENDPOINT_URL
    meta.max_retry_attempts = settings.AWS_MAX_ATTEMPTS - 1
    global _client
    with _client_lock:
        _client = None
    for cls in _model_classes():
        cls._connection = None


class ConditionFailed(Exception):
    """A conditional write's condition did not hold; ``current`` is the item
    as DynamoDB had it (None when there was no item)."""

    def __init__(self, current: TableItem | None) -> None:
        super().__init__("conditional check failed")
        self.current = current


def _conditional_call(model: TableItem, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run a single-item write that returns the stored item when its
    condition fails (``ReturnValuesOnConditionCheckFailure``), so a conflict
    costs no second read. PynamoDB builds the request; its botocore client
    sends it, because PynamoDB drops the returned item from the error."""
    from botocore.exceptions import ClientError

    connection = type(model)._get_connection()
    kwargs["TableName"] = connection.table_name
    kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    botocore_client = connection.connection.client
    try:
        return getattr(botocore_client, operation)(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        raw = error.response.get("Item")
        raise ConditionFailed(type(model).from_raw_data(raw) if raw else None) from None


def put_new(model: T) -> T:
    """Store ``model`` only if no item has its key yet."""
    model.created_at = model.updated_at = utcnow()  # a new model has no version yet
    kwargs = model.get_save_kwargs_from_instance(condition=type(model).pk.does_not_exist())
    _conditional_call(model, "put_item", kwargs)
    model.version = 1
    return model


def update_existing(
    model: T,
    actions: Sequence[Action],
    condition: Condition | None = None,
    *,
    version: int | None = None,
    create: bool = False,
) -> T:
    """Apply ``actions`` to the stored item if it exists (and, given
    ``version``, only if it still has that version). Returns the item as
    stored afterwards.

    With ``create`` a missing item is created from the actions (an upsert:
    its type, schema version and creation time are set only if absent);
    ``version=0`` then means "only if it does not exist yet"."""
    cls = type(model)
    now = utcnow()
    required: Condition | None = None if create else cls.pk.exists()
    if condition is not None:
        required = _and(required, condition)
    if version == 0 and create:
        required = _and(required, cls.pk.does_not_exist())
    elif version is not None:
        required = _and(required, cls.version == version)
    actions = [*actions, cls.updated_at.set(now)]
    if create:
        actions += [
            cls.type.set(cls.type | cls),
            cls.schema_version.set(cls.schema_version | model.schema_version),
            cls.created_at.set(cls.created_at | now),
        ]
    # With a version set, PynamoDB appends ``version + 1`` to the actions;
    # the version check itself is ours (above), so PynamoDB adds none.
    model.version = version or 0
    kwargs = model.get_update_kwargs_from_instance(
        actions=actions, condition=required, add_version_condition=False
    )
    kwargs["ReturnValues"] = "ALL_NEW"
    response = _conditional_call(model, "update_item", kwargs)
    return cls.from_raw_data(response["Attributes"])


def _and(first: Condition | None, second: Condition) -> Condition:
    return second if first is None else first & second


def query_page(
    model: type[T],
    hash_key: str,
    range_key_condition: Condition | None = None,
    *,
    filter_condition: Condition | None = None,
    limit: int,
    start_key: dict[str, Any] | None = None,
    newest_first: bool = True,
    index: Any = None,
) -> tuple[list[T], dict[str, Any] | None]:
    """Exactly one Query request: up to ``limit`` items and the key to
    continue from (None at the end). PynamoDB's iterators would quietly
    send more requests to fill a page a filter thinned out."""
    source = index if index is not None else model
    pages = source.query(
        hash_key,
        range_key_condition,
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        page_size=limit,
        last_evaluated_key=start_key,
    ).page_iter
    page = next(pages)
    items = [model.from_raw_data(raw) for raw in page.get("Items", [])]
    return items, pages.last_evaluated_key


class TransactionCancelled(Exception):
    """A transaction did not happen. ``reasons`` maps each named part that
    caused it to DynamoDB's code (``ConditionalCheckFailed``,
    ``TransactionConflict``...) and the item as stored (None if absent)."""

    def __init__(self, reasons: dict[str, tuple[str, TableItem | None]]) -> None:
        super().__init__(f"transaction cancelled: {sorted(reasons)}")
        self.reasons = reasons

    def failed(self, name: str) -> bool:
        return name in self.reasons

    def item(self, name: str) -> TableItem | None:
        return self.reasons[name][1] if name in self.reasons else None

    @property
    def conflicted(self) -> bool:
        """Cancelled only because another writer got there first: retry."""
        return any(code == "TransactionConflict" for code, _ in self.reasons.values())


# Cancellation reasons that say "too busy", not "this item's condition failed".
_CAPACITY = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}


class Transaction:
    """TransactWriteItems whose parts have names, in the order given, so a
    cancellation says which part failed and with what stored item
    (PynamoDB's own TransactWrite reorders parts by kind)."""

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._names: list[str] = []

    def _add(self, name: str, operation: str, kwargs: dict[str, Any]) -> None:
        kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        self._items.append({operation: kwargs})
        self._names.append(name)

    def put(self, name: str, model: TableItem, condition: Condition | None = None) -> None:
        """Store ``model``; with its VersionAttribute checked (a new model:
        no item yet) and bumped, as PynamoDB's save does."""
        self._add(name, "Put", model.get_save_kwargs_from_instance(condition=condition))

    def update(
        self,
        name: str,
        model: TableItem,
        actions: Sequence[Action],
        condition: Condition | None = None,
    ) -> None:
        kwargs = model.get_update_kwargs_from_instance(
            actions=list(actions), condition=condition, add_version_condition=False
        )
        self._add(name, "Update", kwargs)

    def overwrite(self, name: str, model: TableItem) -> None:
        """Store ``model`` whatever is stored under its key now (a put would
        require the version it was read at): an update setting each of its
        attributes, the version starting again at 1."""
        actions = [
            attribute.set(value)
            for attr_name, attribute in model.get_attributes().items()
            if not (attribute.is_hash_key or attribute.is_range_key or attr_name == "version")
            and (value := getattr(model, attr_name)) is not None
        ]
        self.update(name, model, actions)

    def delete(self, name: str, model: TableItem, condition: Condition | None = None) -> None:
        kwargs = model.get_delete_kwargs_from_instance(
            condition=condition, add_version_condition=False
        )
        self._add(name, "Delete", kwargs)

    def check(
        self, name: str, model: type[TableItem], key: tuple[str, str], condition: Condition
    ) -> None:
        kwargs = model.get_operation_kwargs_from_class(key[0], key[1], condition=condition)
        self._add(name, "ConditionCheck", kwargs)

    def commit(self) -> None:
        from pynamodb.exceptions import VerboseClientError

        connection = TableItem._get_connection().connection
        try:
            connection.dispatch("TransactWriteItems", {"TransactItems": self._items})
        except VerboseClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            if any(r is not None and r.code in _CAPACITY for r in error.cancellation_reasons):
                raise  # not a verdict on the items: nothing was written; the API answers 503
            reasons: dict[str, tuple[str, TableItem | None]] = {}
            for name, reason in zip(self._names, error.cancellation_reasons, strict=False):
                if reason is not None:
                    stored = TableItem.from_raw_data(reason.raw_item) if reason.raw_item else None
                    reasons[name] = (reason.code, stored)
            raise TransactionCancelled(reasons) from None
