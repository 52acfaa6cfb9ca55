"""Log records a service can use (issue 15, item 7): every record the client emits carries its
fields as `extra` attributes (`d360_*`), so a JSON formatter picks them up."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from d360_calling import Client, RetryPolicy, ServerError, SessionDescription, TransportError
from d360_calling.middleware.logging import log_fields

from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID
from ..support.server import ScriptedServer, reply, reset_after_read
from ..support.sleep import FakeSleep

UNAVAILABLE = reply(
    503,
    {"error": {"message": "(#131016) Service unavailable", "code": 131016, "fbtrace_id": "T1"}},
    headers={"x-fb-trace-id": "T1"},
)
BAD_STATE = reply(400, {"error": {"message": "(#100) Invalid parameter", "code": 100}})


class JsonFormatter(logging.Formatter):
    """What a JSON log formatter does: the message plus every non-standard record attribute."""

    STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in self.STANDARD}
        return json.dumps({"message": record.getMessage(), **fields}, default=str)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("d360_calling")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def client_for(server: ScriptedServer) -> Client:
    retry = RetryPolicy(sleep=FakeSleep(), random=lambda: 1.0)
    return Client(API_KEY, base_url=server.base_url, retry=retry, rate_limit=None)


async def test_attempt_and_retry_records_carry_their_fields(
    server: ScriptedServer, json_lines: io.StringIO
) -> None:
    server.script(UNAVAILABLE)
    async with client_for(server) as client:
        await client.calls.terminate(CALL_ID)
    failed, retry, succeeded = records(json_lines)
    assert failed["d360_operation"] == "calls.terminate"
    assert failed["d360_attempt"] == 1
    assert failed["d360_status"] == 503
    assert failed["d360_error"] == "ServerError"
    assert failed["d360_error_code"] == 131016
    assert failed["d360_trace_id"] == "T1"
    assert failed["d360_duration_ms"] >= 0
    assert retry == {
        "message": retry["message"],
        "d360_operation": "calls.terminate",
        "d360_attempt": 1,
        "d360_error": "ServerError",
        "d360_error_code": 131016,
        "d360_status": 503,
        "d360_wait": 0.25,
        "d360_trace_id": "T1",
    }
    assert "retrying in 0.250 s" in retry["message"]
    assert succeeded["d360_attempt"] == 2
    assert succeeded["d360_status"] == 200
    assert "d360_error" not in succeeded
    assert API_KEY not in json_lines.getvalue()


async def test_a_settled_resend_says_so(server: ScriptedServer, json_lines: io.StringIO) -> None:
    server.script(reset_after_read(), BAD_STATE)
    async with client_for(server) as client:
        assert (await client.calls.terminate(CALL_ID)).success
    settled = [r for r in records(json_lines) if r.get("d360_outcome") == "settled"]
    assert len(settled) == 1
    assert settled[0]["d360_operation"] == "calls.terminate"
    assert settled[0]["d360_attempt"] == 2


async def test_transport_failures_have_no_status(
    server: ScriptedServer, json_lines: io.StringIO
) -> None:
    server.script(reset_after_read(), reset_after_read(), reset_after_read(), reset_after_read())
    answer = SessionDescription.answer(ANSWER_SDP)
    async with client_for(server) as client:
        with pytest.raises(TransportError, match="server disconnected"):
            await client.calls.accept(CALL_ID, answer)
    lines = records(json_lines)
    assert lines
    for line in lines:
        assert line["d360_operation"] == "calls.accept"
        assert "d360_status" not in line
        assert line["d360_error"] in ("TransportError", "ServerDisconnectedError")


def test_log_fields_leave_out_what_has_no_value() -> None:
    from d360_calling.session import Request

    request = Request("GET", "/calling/settings", "settings.get", attempt=3)
    assert log_fields(request) == {"d360_operation": "settings.get", "d360_attempt": 3}
    error = ServerError("settings.get: HTTP 503", operation="settings.get", status=503)
    assert log_fields(request, error=error, wait=1.23456) == {
        "d360_operation": "settings.get",
        "d360_attempt": 3,
        "d360_error": "ServerError",
        "d360_status": 503,
        "d360_wait": 1.235,
    }
