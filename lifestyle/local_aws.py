"""moto's server as the local AWS: one endpoint on loopback serving
DynamoDB, S3 and Cognito over real HTTP. Development and tests only
(moto is not in the Lambda package)."""

from __future__ import annotations

from typing import Any


def start_moto_server(port: int = 0) -> tuple[Any, str]:
    """Start moto's threaded server on 127.0.0.1; returns it and its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, real_port = server.get_host_and_port()
    return server, f"http://{host}:{real_port}"
