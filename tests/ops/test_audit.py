"""The staff audit log against moto: sharded writes, newest-first pages,
filters, and no way to overwrite an entry."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from lifestyle.dynamo import ConditionFailed, put_new
from lifestyle.errors import ValidationFailed
from lifestyle.timeutil import utcnow
from ops_admin import audit
from ops_admin.audit import AuditEntry

pytestmark = pytest.mark.usefixtures("aws_stack")


@pytest.fixture
def actor() -> str:
    """A staff name no other test uses: filtering by it isolates this test
    in the shared table."""
    return f"staff-{uuid.uuid4().hex[:10]}"


def every_page(**filters: Any) -> list[list[AuditEntry]]:
    pages, cursor = [], None
    while True:
        page = audit.entries(utcnow().date(), cursor=cursor, **filters)
        pages.append(page.entries)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_a_day_reads_newest_first_in_pages_with_each_entry_once(actor: str) -> None:
    written = [
        audit.record(actor=actor, action="disable_user", target=f"user-{n}") for n in range(23)
    ]
    assert len({entry.pk for entry in written}) > 1  # spread over shards

    pages = every_page(actor=actor, limit=5)

    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    read = [entry.entry_id for page in pages for entry in page]
    assert read == [entry.entry_id for entry in reversed(written)]


def test_filters_by_action_and_target(actor: str) -> None:
    audit.record(actor=actor, action="disable_user", target="alice", detail={"reason": "stolen"})
    audit.record(actor=actor, action="enable_user", target="alice", detail={"reason": "found"})
    audit.record(actor=actor, action="disable_user", target="bob", result="failed")

    disables = every_page(actor=actor, action="disable_user")[0]
    assert [(e.target, e.result) for e in disables] == [("bob", "failed"), ("alice", "ok")]
    alice = every_page(actor=actor, target="alice")[0]
    assert [(e.action, e.detail.as_dict()) for e in alice] == [
        ("enable_user", {"reason": "found"}),
        ("disable_user", {"reason": "stolen"}),
    ]
    assert every_page(actor=actor, target="nobody") == [[]]


def test_an_exact_page_has_no_next_cursor(actor: str) -> None:
    for _ in range(3):
        audit.record(actor=actor, action="backup_create", target="goals")
    page = audit.entries(utcnow().date(), actor=actor, limit=3)
    assert (len(page.entries), page.next_cursor) == (3, None)


def test_an_entry_cannot_be_overwritten(actor: str) -> None:
    entry = audit.record(actor=actor, action="sign_in")
    forged = AuditEntry(
        entry.pk,
        entry.sk,
        entry_id=entry.entry_id,
        at=entry.at,
        actor="someone-else",
        action="sign_in",
        result="ok",
    )
    with pytest.raises(ConditionFailed):
        put_new(forged)
    assert every_page(actor=actor)[0][0].actor == actor


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": audit.MAX_PAGE + 1}, "limit"),
        ({"cursor": "AUDIT#2026-01-01#0"}, "cursor"),
        ({"cursor": "2026-11-28T10:00:00.000000Z#not-an-id"}, "cursor"),
        ({"action": "drop_table"}, "action"),
    ],
)
def test_bad_reads_are_refused(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        audit.entries(utcnow().date(), **arguments)
    assert field in (refused.value.fields or {})


def test_bad_writes_are_refused(actor: str) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(actor=actor, action="drop_table")
    with pytest.raises(ValueError, match="unknown audit result"):
        audit.record(actor=actor, action="sign_in", result="maybe")
    with pytest.raises(ValidationFailed):
        audit.record(actor="  ", action="sign_in")
    with pytest.raises(ValidationFailed):
        audit.record(actor=actor, action="disable_user", detail={"reason": "x" * 501})
    unicode = audit.record(actor=actor, action="disable_user", target="Zoë 🏃", detail={"r": "é"})
    assert every_page(actor=actor)[0][0].target == unicode.target == "Zoë 🏃"
