"""The S3 storage for attachments, with the AWS client settings every other
client of the product has (``lifestyle.aws.botocore_config``): botocore's
retry mode and attempts from ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS``, the
region and the timeouts. django-storages builds its own boto3 client; left
alone, that client would retry by botocore's defaults instead."""

from __future__ import annotations

from typing import Any

from storages.backends.s3 import S3Storage as BaseS3Storage

from lifestyle.aws import botocore_config


class S3Storage(BaseS3Storage):
    client_config: Any  # a botocore Config

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Keeps django-storages' own choices (signature, addressing style).
        self.client_config = self.client_config.merge(botocore_config())
