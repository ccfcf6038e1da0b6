"""Small helpers for tests and benchmarks that talk to local servers.

::

    port = free_port()
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    samples['newswatch_tagger_articles_total{outcome="tagged"}']
"""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> dict[str, float]:
    """Return every sample of a Prometheus text page as ``{'name{labels}': value}``."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
