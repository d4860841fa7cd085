"""An export of a heavy user, timed: 10,000 activities (and, if asked, some
attachment files) against moto's server on loopback, in its own process so
that this one's CPU time and memory are the export's alone.

The activities are written straight to the table with BatchWriteItem (this
is seeding, not the path under test); the export is started as in Lambda
(the request records the job and asks Lambda to run it: moto's Lambda,
without Docker, accepts the invocation), then :func:`export_run` runs here
as the invoked function would, timed, with every AWS request counted.

    .venv/bin/python -m bench.export_10k [--activities 10000] [--files 0] [--file-kb 200]

moto is not DynamoDB or S3: each of its Query pages costs time in
proportion to the whole partition (about a second a page at 10,000 items),
where DynamoDB answers a 1 MB page in tens of milliseconds. So the run's CPU
time (this process: reading, serializing, zipping) is printed apart from its
wall time, which is mostly waiting for moto.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

from bench.processes import moto_server

ROOT = Path(__file__).resolve().parent.parent
NOTES = ("morning walk 🚶 along the river", "Café ☕ then 3 km", "走った — 30 min", "")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def configure(endpoint: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        DYNAMODB_TABLE="bench-export",
        AWS_STORAGE_BUCKET_NAME="bench-export",
        COGNITO_USER_POOL_NAME="bench-export",
        DJANGO_SECRET_KEY="bench-only-secret",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="lifestyle.settings.base",
    )
    import django

    django.setup()


def seed(user_id: str, activities: int, files: int, file_kb: int) -> str:
    """One goal, ``activities`` activities written 25 to a BatchWriteItem,
    the first ``files`` of them with a confirmed attachment file."""
    from django.core.files.storage import storages

    from activities.attachments import ENCRYPTION, READY, attachment_key
    from activities.models import Activity, Attachment, activity_sk
    from goals.services import goal_create
    from lifestyle.dynamo import user_pk
    from lifestyle.ids import new_ulid

    goal, _ = goal_create(
        user_id=user_id, title="Walk", kind="count", target=Decimal(5), period="daily"
    )
    start = datetime.now(UTC) - timedelta(minutes=activities)
    content = os.urandom(file_kb * 1024)
    bucket = storages["default"].bucket
    with Activity.batch_write() as batch:
        for number in range(activities):
            activity_id = new_ulid()
            moment = start + timedelta(minutes=number)
            activity = Activity(
                user_pk(user_id),
                activity_sk(activity_id),
                activity_id=activity_id,
                user_id=user_id,
                goal_id=goal.goal_id,
                value=Decimal(number % 7 + 1),
                occurred_at=moment,
                local_date=moment.date().isoformat(),
                period_key=moment.date().isoformat(),
                note=NOTES[number % len(NOTES)],
                version=1,
            )
            activity.place_in_time()
            if number < files:
                attachment_id = new_ulid()
                key = attachment_key(user_id, activity_id, attachment_id, "image/jpeg")
                bucket.put_object(Key=key, Body=content, ServerSideEncryption=ENCRYPTION)
                activity.attachments = {
                    attachment_id: Attachment(
                        key=key,
                        content_type="image/jpeg",
                        size=len(content),
                        status=READY,
                        created_at=moment,
                    )
                }
            batch.save(activity)
    return goal.goal_id


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Every AWS request by ``service.Operation``, at botocore's choke point."""
    from botocore.client import BaseClient

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}.{operation}"] += 1
        return original(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", counted):
        yield calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=0, help="activities with a file")
    parser.add_argument("--file-kb", type=int, default=200)
    options = parser.parse_args()

    with moto_server() as endpoint:
        configure(endpoint)
        import requests

        from accounts import exports
        from lifestyle.provisioning import provision

        provision()
        user_id = str(uuid.uuid4())
        began = time.perf_counter()
        seed(user_id, options.activities, options.files, options.file_kb)
        print(
            f"seeded {options.activities} activities ({options.files} with a "
            f"{options.file_kb} KB file) in {time.perf_counter() - began:.1f} s"
        )

        # Started as in Lambda: the job is recorded and the invocation sent.
        requests.post(
            f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10
        ).raise_for_status()
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "bench-export"
        state, _ = exports.export_start(user_id=user_id)
        del os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        if state.status != exports.PENDING:
            raise SystemExit(f"the export should wait for its invocation, not be {state.status}")

        rss_before = peak_rss_mb()
        # The run's own time budget is lifted: moto's slow pages would spend
        # it, and what is measured here is the whole run.
        with counting() as calls, mock.patch.object(exports, "RUN_SECONDS", 3600.0):
            began, cpu_began = time.perf_counter(), time.process_time()
            result = exports.export_run(user_id=user_id, export_id=state.job.export_id)
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        final = exports.export_get(user_id=user_id, export_id=state.job.export_id)
        timeout = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]["timeout_seconds"]

        print(f"export_run: {result} ({final.status}, error {final.error})")
        print(f"  wall {elapsed:.2f} s, of which CPU in this process {cpu:.2f} s")
        print(f"  zip {final.job.size_bytes or 0:,} bytes; counts {final.counts}")
        print(
            f"  DynamoDB Query requests: {calls['dynamodb.Query']} (pages of {exports.QUERY_PAGE})"
        )
        print(f"  all AWS requests: {dict(sorted(calls.items()))}")
        print(f"  peak RSS: {rss_before:.0f} MB before the run, {peak_rss_mb():.0f} MB after")
        print(
            f"Lambda timeout (zappa_settings.json): {timeout} s; in Lambda the run stops "
            f"itself at {exports.RUN_SECONDS:.0f} s (exports.RUN_SECONDS), lifted here."
        )


if __name__ == "__main__":
    main()
