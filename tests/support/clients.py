"""Building SDK clients for tests: retries and client-side rate limits off when supported, so
each call sends exactly the requests a test expects."""

from __future__ import annotations

import inspect
from typing import Any

from d360_calling import Client

from .samples import API_KEY


def make_client(base_url: str, api_key: str | None = API_KEY, **options: Any) -> Client:
    parameters = inspect.signature(Client).parameters
    for name in ("retry", "rate_limit"):
        if name in parameters:
            options.setdefault(name, None)
    return Client(api_key, base_url=base_url, **options)
