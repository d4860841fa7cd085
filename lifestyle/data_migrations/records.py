"""Where a migration's progress lives: one item per migration, in the table
it migrates (``pk = MIGRATION``, ``sk = 0002``).

Keeping the checkpoint next to the data means a run inside Lambda (no disk
that outlives the invocation) or on a laptop that goes to sleep can be
resumed by any later run, from anywhere, and that the record of what was
applied travels with the table (a restored backup knows its own state).

The record holds, per scan segment, the key to continue from and the
counts so far; each segment's worker rewrites only its own entry
(``SET segments.#n``), so parallel workers never clobber each other. Every
checkpoint write is conditional on the record's ``run_id``: when a newer
run takes over (after a crash, or by mistake while one is still going),
the older one's next checkpoint fails and it stops, so two runs never
interleave their checkpoints.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lifestyle.aws import client
from lifestyle.data_migrations import DataMigration, Item

RECORD_PK = "MIGRATION"
RECORD_TYPE = "DataMigration"
RUNNING = "running"
DONE = "done"

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_dynamo(item: Item) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def from_dynamo(raw: dict[str, Any]) -> Item:
    return {name: _deserializer.deserialize(value) for name, value in raw.items()}


class TableNotFound(Exception):
    pass


class Superseded(Exception):
    """Another run of the same migration took over; this one must stop."""


class Table:
    """One table through the shared low-level client, patient with throttling.

    botocore already retries throttled calls (the shared retry config:
    ``AWS_RETRY_MODE``, ``AWS_MAX_ATTEMPTS``), but a table-wide migration can
    outlast a burst that a few quick retries cannot: after botocore gives up
    we wait longer (exponential, with jitter) before trying again, so a
    throttled migration slows down instead of dying halfway.
    """

    def __init__(
        self,
        name: str,
        dynamodb: Any = None,
        *,
        throttle_retries: int = 6,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.dynamodb = dynamodb if dynamodb is not None else client("dynamodb")
        self.throttle_retries = throttle_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self.throttled = 0  # calls that botocore gave up on and we retried

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        method = getattr(self.dynamodb, operation)
        for attempt in range(self.throttle_retries + 1):
            try:
                return dict(method(TableName=self.name, **kwargs))
            except ClientError as error:
                if error_code(error) not in THROTTLING_CODES or attempt == self.throttle_retries:
                    raise
                with self._lock:
                    self.throttled += 1
                delay = min(30.0, self.backoff_seconds * 2**attempt)
                self._sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
        raise AssertionError("unreachable")

    def key_attributes(self) -> tuple[str, ...]:
        """The table's key attribute names (hash first); TableNotFound if absent."""
        try:
            description = self.dynamodb.describe_table(TableName=self.name)["Table"]
        except self.dynamodb.exceptions.ResourceNotFoundException:
            raise TableNotFound(f"Table {self.name} does not exist.") from None
        schema = sorted(description["KeySchema"], key=lambda key: key["KeyType"] != "HASH")
        return tuple(key["AttributeName"] for key in schema)


def error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass
class SegmentState:
    """How far one scan segment got: the key to continue after (None: from
    the start) and what it counted."""

    last_key: Item | None = None
    done: bool = False
    scanned: int = 0
    changed: int = 0
    conflicts: int = 0

    def to_item(self) -> Item:
        item: Item = {
            "done": self.done,
            "scanned": self.scanned,
            "changed": self.changed,
            "conflicts": self.conflicts,
        }
        if self.last_key is not None:
            item["last_key"] = self.last_key
        return item

    @classmethod
    def from_item(cls, item: Item) -> SegmentState:
        return cls(
            last_key=item.get("last_key"),
            done=bool(item.get("done", False)),
            scanned=int(item.get("scanned", 0)),
            changed=int(item.get("changed", 0)),
            conflicts=int(item.get("conflicts", 0)),
        )


@dataclass
class MigrationRecord:
    number: int
    status: str
    run_id: str
    total_segments: int
    segments: dict[int, SegmentState] = field(default_factory=dict)
    started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None

    @property
    def applied(self) -> bool:
        return self.status == DONE

    @property
    def scanned(self) -> int:
        return sum(state.scanned for state in self.segments.values())

    @property
    def changed(self) -> int:
        return sum(state.changed for state in self.segments.values())

    @property
    def segments_done(self) -> int:
        return sum(state.done for state in self.segments.values())

    @classmethod
    def from_item(cls, item: Item) -> MigrationRecord:
        return cls(
            number=int(item["number"]),
            status=str(item["status"]),
            run_id=str(item["run_id"]),
            total_segments=int(item["total_segments"]),
            segments={
                int(segment): SegmentState.from_item(state)
                for segment, state in item.get("segments", {}).items()
            },
            started_at=str(item.get("started_at", "")),
            updated_at=str(item.get("updated_at", "")),
            finished_at=item.get("finished_at"),
        )


def record_key(number: int) -> dict[str, Any]:
    return to_dynamo({"pk": RECORD_PK, "sk": f"{number:04d}"})


class RecordStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def load(self, number: int) -> MigrationRecord | None:
        raw = self.table.call("get_item", Key=record_key(number), ConsistentRead=True).get("Item")
        return MigrationRecord.from_item(from_dynamo(raw)) if raw else None

    def load_all(self) -> dict[int, MigrationRecord]:
        """Every migration's record: one Query (there are few)."""
        records: dict[int, MigrationRecord] = {}
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = self.table.call(
                "query",
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": "pk"},
                ExpressionAttributeValues={":pk": {"S": RECORD_PK}},
                ConsistentRead=True,
                **extra,
            )
            for raw in page.get("Items", []):
                record = MigrationRecord.from_item(from_dynamo(raw))
                records[record.number] = record
            start = page.get("LastEvaluatedKey")
            if not start:
                return records

    def create(
        self, migration: DataMigration, *, run_id: str, total_segments: int, now: str
    ) -> MigrationRecord | None:
        """A new record in the running state; None if one already exists."""
        from botocore.exceptions import ClientError

        record = MigrationRecord(
            number=migration.number,
            status=RUNNING,
            run_id=run_id,
            total_segments=total_segments,
            segments={segment: SegmentState() for segment in range(total_segments)},
            started_at=now,
            updated_at=now,
        )
        item: Item = {
            "pk": RECORD_PK,
            "sk": migration.label,
            "type": RECORD_TYPE,
            "number": migration.number,
            "description": migration.description,
            "status": RUNNING,
            "run_id": run_id,
            "total_segments": total_segments,
            "segments": {str(n): state.to_item() for n, state in record.segments.items()},
            "started_at": now,
            "updated_at": now,
        }
        try:
            self.table.call(
                "put_item",
                Item=to_dynamo(item),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return None
        return record

    def take_over(self, number: int, *, run_id: str, now: str) -> MigrationRecord | None:
        """Make ``run_id`` the owner of an unfinished record (resuming it);
        None if it is finished or gone."""
        from botocore.exceptions import ClientError

        try:
            response = self.table.call(
                "update_item",
                Key=record_key(number),
                UpdateExpression="SET #run = :run, #updated = :now",
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={
                    "#run": "run_id",
                    "#updated": "updated_at",
                    "#status": "status",
                },
                ExpressionAttributeValues=to_dynamo(
                    {":run": run_id, ":now": now, ":running": RUNNING}
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return None
        return MigrationRecord.from_item(from_dynamo(response["Attributes"]))

    def save_segment(
        self, number: int, *, run_id: str, segment: int, state: SegmentState, now: str
    ) -> None:
        self._owned_update(
            number,
            run_id,
            "SET #segments.#segment = :state, #updated = :now",
            {"#segments": "segments", "#segment": str(segment), "#updated": "updated_at"},
            {":state": state.to_item(), ":now": now},
        )

    def finish(self, record: MigrationRecord, *, now: str) -> None:
        self._owned_update(
            record.number,
            record.run_id,
            "SET #status = :done, #finished = :now, #updated = :now, "
            "#scanned = :scanned, #changed = :changed",
            {
                "#status": "status",
                "#finished": "finished_at",
                "#updated": "updated_at",
                "#scanned": "scanned",
                "#changed": "changed",
            },
            {":done": DONE, ":now": now, ":scanned": record.scanned, ":changed": record.changed},
        )
        record.status = DONE
        record.finished_at = now

    def _owned_update(
        self, number: int, run_id: str, expression: str, names: dict[str, str], values: Item
    ) -> None:
        from botocore.exceptions import ClientError

        try:
            self.table.call(
                "update_item",
                Key=record_key(number),
                UpdateExpression=expression,
                ConditionExpression="#run = :run",
                ExpressionAttributeNames={**names, "#run": "run_id"},
                ExpressionAttributeValues=to_dynamo({**values, ":run": run_id}),
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            raise Superseded(
                f"Another run of data migration {number:04d} took over; this one stopped."
            ) from None
