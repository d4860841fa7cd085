"""moto's server as the local AWS: one endpoint on loopback serving
DynamoDB, S3 and Cognito over real HTTP. Development and tests only
(moto is not in the Lambda package).

moto 5.2 as shipped is no faithful DynamoDB under concurrent requests, in
two ways the load test (bench/load.py) found, both in its
``transact_write_items`` (moto/dynamodb/models/__init__.py):

- its threaded server runs requests concurrently and its DynamoDB has no
  lock: a condition is checked and its write applied with other requests
  running in between, and a cancelled TransactWriteItems puts back a copy of
  the whole table taken when it began, undoing every write other requests
  made meanwhile. Acknowledged activities vanished, deleted ones came back,
  and two transactions guarded by one version both committed. DynamoDB
  serializes conflicting transactions or cancels one of them.
- that copy is a deepcopy of the whole table before every transaction:
  about 40 us per stored item, so 70 ms at 2,000 items, and everything
  waits behind it. DynamoDB's cost does not grow with the table.

So by default (``faithful=True``) the server answers one AWS request at a
time and a cancelled transaction puts back only the items it touched: the
guarantees and costs of DynamoDB's transactions, which our optimistic
locking relies on, not moto's shortcut.

A third patch is about memory, found by bench/memory.py: moto keeps every
model object it ever creates in a class-level list (for its dashboard), the
copies its transactions take included, so a long run's server grew by
gigabytes. Objects are no longer listed there.
"""

from __future__ import annotations

import threading
import types
from typing import Any

_patched = threading.Lock()
_faithful = False


def start_moto_server(port: int = 0, *, faithful: bool = True) -> tuple[Any, str]:
    """Start moto's threaded server on 127.0.0.1; returns it and its URL."""
    from moto.server import ThreadedMotoServer

    if faithful:
        make_moto_faithful()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, real_port = server.get_host_and_port()
    return server, f"http://{host}:{real_port}"


def make_moto_faithful() -> None:
    """Patch moto, in this process, as the module's docstring says (once)."""
    global _faithful
    with _patched:
        if not _faithful:
            _one_request_at_a_time()
            _transactions_undo_only_their_items()
            _models_not_tracked()
            _faithful = True


def _models_not_tracked() -> None:
    """moto's models are created without being appended to its
    ``instances_tracked`` lists, which nothing of ours reads."""
    from moto.core.common_models import BaseModel

    def untracked(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = staticmethod(untracked)  # type: ignore[method-assign]


def _one_request_at_a_time() -> None:
    """Each AWS request, a transaction included, runs alone: atomic."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lock = threading.Lock()
    dispatch = DomainDispatcherApplication.__call__

    def serialized(self: Any, environ: Any, start_response: Any) -> Any:
        with lock:
            return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = serialized  # type: ignore[method-assign]


def _transactions_undo_only_their_items() -> None:
    """moto's TransactWriteItems without its whole-table copy: the items a
    transaction names are saved first, and put back if it is cancelled."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    # The module's own name for the copy module: only its copies change (the
    # whole-table one; an item's copy in update_item stays a copy).
    models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]
    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [_saved_item(self, item) for item in transact_items]
        try:
            transact(self, transact_items)
        except Exception:
            for table_name, key, attributes in filter(None, saved):
                if attributes is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _saved_item(backend: Any, action: dict[str, Any]) -> tuple[str, dict[str, Any], Any] | None:
    """The table, key and stored attributes (None: no item) of the item one
    transaction action writes; None when the action is malformed (moto
    itself refuses it, before writing anything)."""
    try:
        kind, operation = next(iter(action.items()))
        table_name = operation["TableName"]
        if kind == "Put":
            table = backend.get_table(table_name)
            names = [table.hash_key_attr, table.range_key_attr]
            key = {name: operation["Item"][name] for name in names if name}
        else:
            key = operation["Key"]
        current = backend.get_item(table_name, key)
    except Exception:  # moto raises its own error for it, unchanged
        return None
    return table_name, key, current.to_json()["Attributes"] if current else None
