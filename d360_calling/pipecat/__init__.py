"""pipecat voice bots on WhatsApp calls through 360dialog: the optional extra
`d360-calling[pipecat]`.

```python
from d360_calling.pipecat import D360Params, D360Transport

@router.on_connect
async def answer(call: IncomingCall) -> None:
    if call.inbound:
        transport = await D360Transport.answer(call, D360Params())
        bots.add(asyncio.create_task(run_bot(transport)))   # a task: the handler returns

transport = await D360Transport.place(client, router, "14155550123", D360Params())
```

Build the pipeline as usual, `transport.input()` first and `transport.output()` last, and run it
with `PipelineWorker(..., idle_timeout_secs=None, enable_rtvi=False)` (a call has its own end,
and no RTVI client) under `WorkerRunner(handle_sigint=False)` (many calls share one process).
pipecat logs through loguru; this package leaves loguru's configuration to you.

`import d360_calling` never imports this package (nor pipecat); import it yourself.
"""

from d360_calling.pipecat.input import D360InputTransport
from d360_calling.pipecat.link import CallInfo, Terminate
from d360_calling.pipecat.output import D360OutputTransport
from d360_calling.pipecat.params import D360Params
from d360_calling.pipecat.transport import D360Transport

__all__ = [
    "CallInfo",
    "D360InputTransport",
    "D360OutputTransport",
    "D360Params",
    "D360Transport",
    "Terminate",
]
