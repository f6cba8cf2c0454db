"""boto3 clients for the provisioner and the router: one per service, created on first use."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import boto3


class ClientFactory(Protocol):
    def client(self, service_name: str) -> Any: ...


class Clients:
    """boto3 clients, one per service, created on first use (thread-safe; clients themselves are)."""

    def __init__(self, session: Any | None = None, endpoint_url: str | None = None) -> None:
        if session is None:
            session = boto3.session.Session()
        self.session = session
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service_name: str) -> Any:
        with self._lock:
            if service_name not in self._clients:
                kwargs = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
                self._clients[service_name] = self.session.client(service_name, **kwargs)
            return self._clients[service_name]

    def __call__(self, service_name: str) -> Any:
        return self.client(service_name)

    def close(self) -> None:
        """Close every client's connections."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
