"""`python -m d360_calling demo`: a whole call story against the embedded sandbox.

It starts a sandbox and a webhook receiver on free loopback ports and walks through what a
business does: configure calling, answer an inbound call, hear the caller, greet them and get
the keys they press (with the `[media]` extra), fetch a recorded call's files, ask a customer
for call permission and place an outbound call, and ride through a 429 and a 503. Each step
is checked; the exit code is 0 only if all of them did what they should.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TextIO

import attrs
from aiohttp import web

from .client import Client
from .demo_recording import recorded_call
from .errors import D360Error
from .middleware.retry import RetryPolicy
from .models.calls import FeatureStatus, SessionDescription
from .models.messages import EnsureOutcome
from .models.permissions import PermissionStatus
from .models.settings import CallHours, CallingSettings, OperatingHours, Weekday
from .sandbox import ANSWER_SDP, OFFER_SDP, Fault, Sandbox
from .webhooks import (
    CallRecordingAvailable,
    CallStatus,
    CallTerminate,
    CallTranscriptionAvailable,
    IncomingCall,
    PermissionReply,
    Receiver,
    Router,
)

if TYPE_CHECKING:
    from .media import CallAudio

API_KEY = "demo-key"
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - a demo value, not a secret
CALLER = "14155550123"
CUSTOMER = "4915112345678"
STEP_TIMEOUT = 5.0
CALLER_TONE_HZ = 440.0
GREETING_TONE_HZ = 660.0
PITCH_TOLERANCE_HZ = 5.0
DEMO_KEYS = "42#"


@attrs.define
class Story:
    """What the webhook handlers saw, for the steps to wait on."""

    connects: asyncio.Queue[IncomingCall] = attrs.field(factory=asyncio.Queue)
    statuses: asyncio.Queue[CallStatus] = attrs.field(factory=asyncio.Queue)
    terminates: asyncio.Queue[CallTerminate] = attrs.field(factory=asyncio.Queue)
    replies: asyncio.Queue[PermissionReply] = attrs.field(factory=asyncio.Queue)
    recordings: asyncio.Queue[CallRecordingAvailable] = attrs.field(factory=asyncio.Queue)
    transcripts: asyncio.Queue[CallTranscriptionAvailable] = attrs.field(factory=asyncio.Queue)


@attrs.define
class Report:
    """Prints steps as they pass or fail and keeps the tally."""

    out: TextIO
    quiet: bool
    passed: list[str] = attrs.field(factory=list)
    failed: list[str] = attrs.field(factory=list)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        (self.passed if ok else self.failed).append(what)
        mark = "[ok]  " if ok else "[FAIL]"
        self.say(f"  {mark} {what}{f' ({detail})' if detail else ''}")


class _RetryLog(logging.Handler):
    """Shows the SDK's retry records in the demo's output, so the retries are visible."""

    def __init__(self, report: Report) -> None:
        super().__init__(logging.INFO)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.report.say(f"         retry: {record.getMessage()}")


async def run_demo(*, quiet: bool = False, out: TextIO = sys.stdout) -> int:
    """Run the story; 0 if every step did what it should, 1 otherwise."""
    report = Report(out, quiet)
    story = Story()
    router = _router(story)
    retry_log = _RetryLog(report)
    logging.getLogger("d360_calling").addHandler(retry_log)
    logging.getLogger("d360_calling").setLevel(logging.INFO)
    try:
        await _run(report, story, router)
    except (D360Error, TimeoutError) as error:
        report.check("the story ran to the end", False, f"{type(error).__name__}: {error}")
    finally:
        logging.getLogger("d360_calling").removeHandler(retry_log)
    print(
        f"\nSummary: {len(report.passed)} steps passed, {len(report.failed)} failed"
        + (f": {', '.join(report.failed)}" if report.failed else ""),
        file=out,
        flush=True,
    )
    return 0 if not report.failed else 1


def _router(story: Story) -> Router:
    router = Router()

    @router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        await story.connects.put(call)

    @router.on_status
    async def on_status(status: CallStatus) -> None:
        await story.statuses.put(status)

    @router.on_terminate
    async def on_terminate(ended: CallTerminate) -> None:
        await story.terminates.put(ended)

    @router.on_permission_reply
    async def on_permission_reply(reply: PermissionReply) -> None:
        await story.replies.put(reply)

    router.on_recording(story.recordings.put)
    router.on_transcription(story.transcripts.put)

    return router


async def _run(report: Report, story: Story, router: Router) -> None:
    receiver, receiver_runner, webhook_url = await _serve(router)
    retry = RetryPolicy(initial_wait=0.2)
    try:
        async with (
            Sandbox(API_KEY, webhook_url=webhook_url, webhook_secret=WEBHOOK_SECRET) as sandbox,
            Client(API_KEY, base_url=sandbox.base_url, retry=retry) as client,
        ):
            receiver.client = client
            report.say(f"Sandbox at {sandbox.base_url}; webhooks to {webhook_url} (signed)\n")
            await _configure(report, client)
            await _inbound(report, story, sandbox)
            await _inbound_audio(report, story, sandbox)
            await _timed(
                recorded_call(report, sandbox, client, story, CALLER),
                seconds=3 * STEP_TIMEOUT,
            )
            await _outbound(report, story, sandbox, client)
            await _faults(report, sandbox, client)
    finally:
        await receiver_runner.cleanup()


async def _serve(router: Router) -> tuple[Receiver, web.AppRunner, str]:
    """Serve a signed-webhook receiver on a free loopback port."""
    receiver = Receiver(router, secret=WEBHOOK_SECRET)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return receiver, runner, f"http://127.0.0.1:{port}{receiver.path}"


async def _next(queue: asyncio.Queue[Any]) -> Any:
    return await _timed(queue.get())


async def _configure(report: Report, client: Client) -> None:
    report.say("1. Enable calling and set call hours")
    hours = CallHours(
        status=FeatureStatus.ENABLED,
        timezone_id="Europe/Berlin",
        weekly_operating_hours=tuple(
            OperatingHours(day, "0800", "2000")
            for day in (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY)
        ),
    )
    result = await client.settings.update(
        CallingSettings(status=FeatureStatus.ENABLED, call_hours=hours)
    )
    report.check("settings updated", result.success)
    settings = await client.settings.get()
    stored = settings.calling.call_hours
    report.check(
        "settings read back",
        settings.calling.status is FeatureStatus.ENABLED
        and stored is not None
        and stored.weekly_operating_hours == hours.weekly_operating_hours,
        f"calling {settings.calling.status}, {len(hours.weekly_operating_hours or ())} days",
    )


async def _inbound(report: Report, story: Story, sandbox: Sandbox) -> None:
    report.say(f"\n2. A user ({CALLER}) calls the business")
    call_id = await sandbox.ring(CALLER, name="Ada")
    call: IncomingCall = await _next(story.connects)
    report.check("connect webhook received", call.call_id == call_id, call_id)
    answer = SessionDescription.answer(ANSWER_SDP)
    await call.pre_accept(answer)
    await call.accept(answer, biz_opaque_callback_data="demo-inbound")
    report.check("pre-accepted and accepted", sandbox.calls[call_id].state.value == "accepted")
    sandbox.clock.advance(42)
    await sandbox.user_hangs_up(call_id)
    ended: CallTerminate = await _next(story.terminates)
    report.check(
        "user hung up; terminate webhook received",
        ended.call_id == call_id and ended.duration == 42,
        f"duration {ended.duration} s",
    )


async def _inbound_audio(report: Report, story: Story, sandbox: Sandbox) -> None:
    report.say(
        "\n2b. The call carries audio: the bot hears the caller, greets them and gets their keys"
    )
    try:
        from .media import dominant_frequency, tone
    except ImportError:
        report.say("  (skipped: pip install 'd360-calling[media]' for the audio steps)")
        return

    call_id = await sandbox.ring(CALLER, media=True, tone_hz=CALLER_TONE_HZ)
    call: IncomingCall = await _next(story.connects)
    audio = await _timed(call.answer_with_audio(loopback=True))
    await audio.wait_connected(timeout=STEP_TIMEOUT)
    report.check("answered with real audio (ICE + DTLS-SRTP on loopback)", audio.connected)
    greeting = asyncio.create_task(audio.play(tone(GREETING_TONE_HZ, seconds=3.0)))
    try:
        heard = await _timed(audio.listen(0.5, skip=0.1))
        pitch = dominant_frequency(heard)
        report.check(
            f"the bot hears the caller's {CALLER_TONE_HZ:g} Hz tone",
            _near(pitch, CALLER_TONE_HZ),
            f"measured {pitch or 0:.1f} Hz",
        )
        user_pitch = await _timed(_user_hears(sandbox, call_id))
        report.check(
            f"the caller hears the bot's {GREETING_TONE_HZ:g} Hz greeting",
            _near(user_pitch, GREETING_TONE_HZ),
            f"measured {user_pitch or 0:.1f} Hz",
        )
    finally:
        audio.interrupt()
        await greeting
    await _keypresses(report, sandbox, call_id, audio)
    await sandbox.user_hangs_up(call_id)
    ended: CallTerminate = await _next(story.terminates)
    report.check(
        "user hung up; the call's media closed",
        ended.call_id == call_id and await _timed(audio.wait_ended()) is None,
    )


async def _keypresses(report: Report, sandbox: Sandbox, call_id: str, audio: CallAudio) -> None:
    """The user presses 4, 2, # (RFC 4733, as 360dialog sends them); the bot collects them."""
    report.say(f"     the user presses {DEMO_KEYS}")
    collecting = asyncio.create_task(
        audio.dtmf.collect(terminator="#", first_timeout=STEP_TIMEOUT, inter_digit_timeout=2.0)
    )
    await asyncio.sleep(0)  # collecting from before the first key
    try:
        await _timed(sandbox.press(call_id, DEMO_KEYS))
        digits = await _timed(collecting)
    except ValueError as error:  # the call did not negotiate telephone-event
        digits = f"none ({error})"
    finally:
        collecting.cancel()
    report.check(
        "the bot hears the keys the user pressed",
        digits == DEMO_KEYS.rstrip("#"),
        f"keys heard: {digits or 'none'}",
    )


async def _user_hears(sandbox: Sandbox, call_id: str) -> float | None:
    """The pitch the sandbox's user hears, once it hears anything."""
    voice = sandbox.voice(call_id)
    for _ in range(int(STEP_TIMEOUT / 0.02)):
        if (pitch := voice.dominant_frequency(0.3)) is not None:
            return pitch
        await asyncio.sleep(0.02)
    return None


def _near(measured: float | None, expected: float) -> bool:
    return measured is not None and abs(measured - expected) <= PITCH_TOLERANCE_HZ


async def _outbound(report: Report, story: Story, sandbox: Sandbox, client: Client) -> None:
    report.say(f"\n3. The business calls a customer ({CUSTOMER})")
    before = await client.permissions.get(CUSTOMER)
    report.check(
        "no permission yet",
        before.status is PermissionStatus.NO_PERMISSION and not before.can_start_call,
        str(before.status),
    )
    ensured = await client.permissions.ensure(CUSTOMER, "May we call you about your order?")
    report.check(
        "permission requested",
        ensured.outcome is EnsureOutcome.REQUESTED,
        ensured.message_id or "",
    )
    await sandbox.user_answers_permission(CUSTOMER, accept=True, permanent=False)
    reply: PermissionReply = await _next(story.replies)
    report.check(
        "customer accepted (permission reply webhook)",
        reply.response == "accept" and reply.context_id == ensured.message_id,
    )
    after = await client.permissions.get(CUSTOMER)
    report.check(
        "customer granted a temporary permission",
        after.status is PermissionStatus.TEMPORARY and after.can_start_call,
        f"expires {after.expires_at:%Y-%m-%d}" if after.expires_at else "",
    )
    placed = await client.calls.connect(
        CUSTOMER, SessionDescription.offer(OFFER_SDP), biz_opaque_callback_data="demo-outbound"
    )
    ringing: CallStatus = await _next(story.statuses)
    report.check(
        "call placed and ringing",
        ringing.call_id == placed.call_id and ringing.status == "RINGING",
        placed.call_id,
    )
    await sandbox.user_answers(placed.call_id)
    accepted: CallStatus = await _next(story.statuses)
    media: IncomingCall = await _next(story.connects)
    report.check(
        "customer answered (ACCEPTED, SDP answer by webhook)",
        accepted.status == "ACCEPTED" and media.call_id == placed.call_id,
    )
    sandbox.clock.advance(30)
    await client.calls.terminate(placed.call_id)
    ended: CallTerminate = await _next(story.terminates)
    report.check(
        "business hung up; terminate webhook received",
        ended.call_id == placed.call_id and ended.duration == 30,
        f"duration {ended.duration} s",
    )


async def _faults(report: Report, sandbox: Sandbox, client: Client) -> None:
    report.say("\n4. The API throttles (429) and fails (503); the SDK retries")
    sandbox.faults.script("permissions.get", Fault.status(429, retry_after=0.5), Fault.status(503))
    requests_before = sandbox.stats.requests["permissions.get"]
    perms = await _timed(client.permissions.get(CUSTOMER))
    sent = sandbox.stats.requests["permissions.get"] - requests_before
    report.check(
        "permissions read after a 429 and a 503",
        perms.can_start_call and sent == 3,
        f"{sent} requests",
    )
    connects_before = sandbox.stats.effects["calls.connect"]
    sandbox.faults.script("calls.connect", Fault.status(429, retry_after=0.3))
    placed = await client.calls.connect(CUSTOMER, SessionDescription.offer(OFFER_SDP))
    effects = sandbox.stats.effects["calls.connect"] - connects_before
    report.check("connect resent after a 429, placed exactly once", effects == 1, placed.call_id)
    await client.calls.terminate(placed.call_id)


async def _timed(awaitable: Awaitable[Any], *, seconds: float = STEP_TIMEOUT) -> Any:
    """Await one step, failing the story instead of hanging if it never comes."""
    async with asyncio.timeout(seconds):
        return await awaitable
