"""`run_standalone`: a sandbox served until cancelled, for `python -m d360_calling sandbox`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from d360_calling.sandbox.faults import FaultPlan
from d360_calling.sandbox.server import Sandbox
from d360_calling.sandbox.webhooks import SignatureScheme

log = logging.getLogger(__name__)


async def run_standalone(
    host: str = "127.0.0.1",
    port: int = 8360,
    api_key: str = "sandbox-key",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    faults_spec: str | None = None,
    signature: SignatureScheme = "360dialog",
    on_ready: Callable[[Sandbox], None] | None = None,
    phone: bool = False,
) -> None:
    """Serve a sandbox until cancelled (`python -m d360_calling sandbox [--phone]`)."""
    faults = FaultPlan.parse(faults_spec) if faults_spec else None
    async with Sandbox(
        api_key,
        webhook_url,
        webhook_secret,
        signature,
        host=host,
        port=port,
        faults=faults,
        phone=phone,
    ) as sandbox:
        log.info("sandbox serving the Calling API at %s", sandbox.base_url)
        if on_ready is not None:
            on_ready(sandbox)
        await asyncio.Event().wait()
