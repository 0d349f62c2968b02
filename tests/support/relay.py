"""A TCP relay on loopback that counts the bytes each way (for benchmarks of the wire)."""

from __future__ import annotations

import contextlib
import socket
import threading


class CountingRelay:
    """A TCP relay to `upstream_port` on loopback that counts the bytes each way."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.sent = 0  # client -> cloud
        self.received = 0  # cloud -> client
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> tuple[int, int]:
        with self._lock:
            counts = (self.sent, self.received)
            self.sent = self.received = 0
        return counts

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    if outbound:
                        self.sent += len(chunk)
                    else:
                        self.received += len(chunk)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


__all__ = ["CountingRelay"]
