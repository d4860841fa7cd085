"""DynamoDB capacity a request consumes, computed from its recorded calls.

moto reports a constant ``ConsumedCapacity``, so the units are worked out
here from DynamoDB's published rules and the items' sizes:

- a read unit reads 4 KB strongly consistent, or twice that eventually
  consistent (0.5 a 4 KB step); Query sums the items it returns before
  rounding; a missing item still costs the minimum;
- a write unit writes 1 KB of the larger of the old and new item (we see
  the new one: the item written, or ``ALL_NEW`` attributes); each index
  the item appears in costs the same again;
- a transaction costs twice each of its items (a ConditionCheck too).

Item size follows DynamoDB's: attribute names plus values (strings in
UTF-8 bytes, numbers about one byte per two digits plus one, maps and lists
three bytes plus one per element plus their contents).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.harness import Call

READ_STEP, WRITE_STEP = 4096, 1024


def value_size(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = len(data.replace("-", "").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(data) * 3 // 4  # base64 in the JSON
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _indexes_holding(item: dict[str, Any], index_keys: dict[str, tuple[str, ...]]) -> int:
    """How many of the table's indexes this item appears in."""
    return sum(all(name in item for name in keys) for keys in index_keys.values())


def _read_units(size: int, consistent: bool) -> float:
    steps = max(1, math.ceil(size / READ_STEP))
    return steps * (1.0 if consistent else 0.5)


def _write_units(item: dict[str, Any], index_keys: dict[str, tuple[str, ...]]) -> float:
    steps = max(1, math.ceil(item_size(item) / WRITE_STEP))
    return float(steps * (1 + _indexes_holding(item, index_keys)))


@dataclass(frozen=True)
class Units:
    read: float = 0.0
    write: float = 0.0

    def __add__(self, other: Units) -> Units:
        return Units(self.read + other.read, self.write + other.write)


def units(call: Call, index_keys: dict[str, tuple[str, ...]]) -> Units:
    """The read and write units one call consumed (DynamoDB's rules)."""
    params, answer = call.params, call.parsed
    operation = call.operation
    if operation == "GetItem":
        return Units(read=_read_units(item_size(answer.get("Item", {})), _consistent(params)))
    if operation == "BatchGetItem":
        total = 0.0
        for table, request in params["RequestItems"].items():
            found = answer.get("Responses", {}).get(table, [])
            consistent = bool(request.get("ConsistentRead"))
            total += sum(_read_units(item_size(item), consistent) for item in found)
            total += _read_units(0, consistent) * (len(request["Keys"]) - len(found))
        return Units(read=total)
    if operation == "Query":
        size = sum(item_size(item) for item in answer.get("Items", []))
        return Units(read=_read_units(size, _consistent(params)))
    if operation == "PutItem":
        return Units(write=_write_units(params["Item"], index_keys))
    if operation == "UpdateItem":
        after = answer.get("Attributes", {}) if params.get("ReturnValues") == "ALL_NEW" else {}
        return Units(write=_write_units({**params["Key"], **after}, index_keys))
    if operation == "DeleteItem":
        return Units(write=1.0)
    if operation == "TransactWriteItems":
        total = 0.0
        for action in params["TransactItems"]:
            (kind, detail), *_ = action.items()
            item = detail.get("Item") or detail.get("Key", {})
            total += 2 * (_write_units(item, index_keys) if kind == "Put" else 1.0)
        return Units(write=total)
    raise ValueError(f"no capacity rule for {operation}")


def _consistent(params: dict[str, Any]) -> bool:
    return bool(params.get("ConsistentRead"))


def table_index_keys() -> dict[str, tuple[str, ...]]:
    """The key attributes of each index of the product's table."""
    from lifestyle.provisioning import table_spec

    spec = table_spec("any")
    indexes = [*spec.get("LocalSecondaryIndexes", []), *spec.get("GlobalSecondaryIndexes", [])]
    return {
        index["IndexName"]: tuple(key["AttributeName"] for key in index["KeySchema"])
        for index in indexes
    }
