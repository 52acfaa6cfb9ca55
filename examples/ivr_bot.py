"""An IVR bot: "press 1 for sales, 2 for support", then a PIN for support, over real call audio.

Each call is answered with audio and hears a menu; a key pressed during a prompt stops it
(barge-in). 1 plays the sales message and hangs up. 2 asks for a 4-digit PIN ended by `#`,
checks it (logged masked, never the digits) and hangs up. Any other key, or none, replays the
menu once, then hangs up. Every wait is bounded. The prompts are tones here; a real bot plays
recordings with `audio.play("menu.wav")`.

Run it against the embedded sandbox, whose users press keys on their phones:

    python examples/ivr_bot.py --sandbox

Or serve it, and press keys on the sandbox's phone page (http://127.0.0.1:8360/phone); the
demo PIN is 1234 (`--pin`), where a real bot asks its backend:

    python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/webhook \\
        --webhook-secret S
    python examples/ivr_bot.py --base-url http://127.0.0.1:8360 --secret S

Audio stays on 127.0.0.1 when `--base-url` is a loopback address (as the sandbox requires).
Against the real API, serve `build_receiver(client, check_pin=...).app` behind your HTTPS
endpoint, pass your TURN server with `ice_servers=`, and point the 360dialog webhook URL at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from d360_calling import Client, D360Error
from d360_calling.media import CallAudio, MediaError, tone
from d360_calling.webhooks import IncomingCall, Receiver, Router

if __package__:
    from . import _serve
else:  # run as a script: python examples/ivr_bot.py
    import _serve

if TYPE_CHECKING:
    from d360_calling.sandbox import Sandbox

log = logging.getLogger("ivr_bot")

SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here
MENU_HZ = 523.0  # "Press 1 for sales, 2 for support."
PIN_HZ = 659.0  # "Enter your 4-digit PIN, then the hash key."
SALES_HZ = 784.0  # "Our sales team will call you back." (or transfer the call)
PIN_OK_HZ = 880.0  # "Thank you, you are verified."
PIN_BAD_HZ = 220.0  # "Sorry, that PIN is not right."
SORRY_HZ = 330.0  # "Sorry, I didn't get that."
PROMPT_SECONDS = 1.2
PIN_LENGTH = 4

PinCheck = Callable[[str, str], Awaitable[bool]]
"""`await check_pin(wa_id, pin)`: whether `pin` is the caller's (your backend's job)."""


@dataclass
class Outcome:
    """What happened on one call; it never holds the PIN, only its mask."""

    call_id: str
    choice: str = "none"  # "sales", "support" or "none"
    menus: int = 0  # times the menu played
    pin: str = ""  # the PIN masked ("****"), never its digits
    pin_ok: bool | None = None
    hung_up: bool = False  # the bot ended the call
    problem: str = ""  # why the call ended otherwise: the caller left, a time limit


async def ask(
    audio: CallAudio,
    prompt_hz: float,
    *,
    max_digits: int,
    terminator: str | None,
    wait: float,
    inter_digit_timeout: float = 5.0,
) -> str:
    """Play a prompt and collect keys: those pressed during the prompt count, and an answer
    complete before the prompt ends stops it. "" (or what was typed) after `wait` seconds of
    nothing past the prompt, or when the caller hangs up."""
    collecting = asyncio.create_task(
        audio.dtmf.collect(
            max_digits,
            terminator=terminator,
            first_timeout=PROMPT_SECONDS + wait,
            inter_digit_timeout=inter_digit_timeout,
        )
    )
    await asyncio.sleep(0)  # subscribed before the prompt starts
    playing = asyncio.create_task(audio.play(tone(prompt_hz, seconds=PROMPT_SECONDS)))
    try:
        return await collecting
    finally:
        audio.interrupt()  # barge-in; nothing else is playing once the prompt is over
        with contextlib.suppress(MediaError):  # the caller hung up mid-prompt
            await playing


async def serve_caller(
    audio: CallAudio, call: IncomingCall, outcome: Outcome, check_pin: PinCheck, wait: float
) -> None:
    """The menu, the choice, and what follows it, up to hanging up."""
    for attempt in (1, 2):
        outcome.menus += 1
        choice = await ask(audio, MENU_HZ, max_digits=1, terminator=None, wait=wait)
        if choice == "1":
            outcome.choice = "sales"
            log.info("call %s: sales", call.call_id)
            await audio.play(tone(SALES_HZ, seconds=1.0))
            return
        if choice == "2":
            outcome.choice = "support"
            log.info("call %s: support, asking for the PIN", call.call_id)
            # One digit more than a PIN, so a PIN typed too long is refused, not cut short.
            pin = await ask(audio, PIN_HZ, max_digits=PIN_LENGTH + 1, terminator="#", wait=wait)
            outcome.pin = "*" * len(pin)
            well_formed = len(pin) == PIN_LENGTH and pin.isdigit()
            outcome.pin_ok = well_formed and await check_pin(call.event.from_ or "", pin)
            verdict = "accepted" if outcome.pin_ok else "refused"
            log.info("call %s: PIN %s %s", call.call_id, outcome.pin or "(none)", verdict)
            await audio.play(tone(PIN_OK_HZ if outcome.pin_ok else PIN_BAD_HZ, seconds=0.8))
            return
        what = "no key" if not choice else "a key not on the menu"
        then = "replaying the menu" if attempt == 1 else "hanging up"
        log.info("call %s: %s; %s", call.call_id, what, then)
        await audio.play(tone(SORRY_HZ, seconds=0.5))


def build_receiver(
    client: Client | None,
    *,
    check_pin: PinCheck,
    on_outcome: Callable[[Outcome], object] = lambda outcome: None,
    secret: str | None = None,
    wait: float = 5.0,
    limit: float = 120.0,
    **media_options: Any,
) -> Receiver:
    """A receiver whose bot answers each inbound call with the IVR and reports each call's
    `Outcome` to `on_outcome` once the call is over (for the bot).

    `wait` is how long the caller gets after a prompt to start typing, `limit` bounds a whole
    call. `media_options` go to `CallAudio.answer` (`ice_servers=`, `loopback=` for the sandbox).
    """
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        if not call.inbound:
            return
        outcome = Outcome(call.call_id)
        try:
            audio = await call.answer_with_audio(**media_options)
            async with asyncio.timeout(limit):
                await audio.wait_connected()
                await serve_caller(audio, call, outcome, check_pin, wait)
            if audio.connected:
                await call.terminate()
                outcome.hung_up = True
        except MediaError as error:
            outcome.problem = f"audio ended: {type(error).__name__}"
        except TimeoutError:
            outcome.problem = f"over the {limit:g} s limit"
            with contextlib.suppress(D360Error):
                await call.terminate()
        except D360Error as error:
            outcome.problem = f"API error: {type(error).__name__}"
        finally:
            if outcome.problem:
                log.info("call %s: %s", call.call_id, outcome.problem)
            on_outcome(outcome)

    return Receiver(router, client=client, secret=secret)


@dataclass(frozen=True)
class Hear:
    """The sandbox user waits to hear a prompt (a tone of `hz`)."""

    hz: float


@dataclass(frozen=True)
class Press:
    """The sandbox user presses `keys` (500 ms tones, 100 ms gaps, as 360dialog sends them)."""

    keys: str
    shown: str  # how the script prints it: never a PIN's digits


SANDBOX_PIN = "1234"
SCENARIOS: dict[str, tuple[list[Hear | Press], Outcome]] = {
    "support with the right PIN": (
        [Hear(MENU_HZ), Press("2", "2"), Hear(PIN_HZ), Press("1234#", "a PIN and #"),
         Hear(PIN_OK_HZ)],
        Outcome("", choice="support", menus=1, pin="****", pin_ok=True, hung_up=True),
    ),
    "support with a wrong PIN": (
        [Hear(MENU_HZ), Press("2", "2"), Hear(PIN_HZ), Press("9999#", "a PIN and #"),
         Hear(PIN_BAD_HZ)],
        Outcome("", choice="support", menus=1, pin="****", pin_ok=False, hung_up=True),
    ),
    "sales after a wrong key": (
        [Hear(MENU_HZ), Press("9", "9"), Hear(SORRY_HZ), Hear(MENU_HZ), Press("1", "1"),
         Hear(SALES_HZ)],
        Outcome("", choice="sales", menus=2, hung_up=True),
    ),
    "no key at all": (
        [Hear(MENU_HZ), Hear(SORRY_HZ), Hear(MENU_HZ), Hear(SORRY_HZ)],
        Outcome("", choice="none", menus=2, hung_up=True),
    ),
}  # fmt: skip


async def hears(box: Sandbox, call_id: str, hz: float, *, within: float = 10.0) -> None:
    """Wait until the sandbox user hears `hz` (TimeoutError after `within` seconds)."""
    voice = box.voice(call_id)
    for _ in range(int(within / 0.02)):
        pitch = voice.dominant_frequency(0.2)
        if pitch is not None and abs(pitch - hz) <= 10.0:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"the user did not hear {hz:g} Hz within {within:g} s")


async def demo_with_sandbox(
    names: Iterable[str] = SCENARIOS, *, wait: float = 1.0
) -> list[tuple[str, Outcome | None, bool]]:
    """Ring the bot once per scenario, one call after another, each user hearing prompts and
    pressing keys; returns each scenario's name, the bot's outcome and whether it went as
    expected. (One at a time: a loaded machine may not keep several calls' audio real-time.)"""
    from d360_calling.sandbox import Sandbox

    outcomes: asyncio.Queue[Outcome] = asyncio.Queue()

    receiver = build_receiver(
        None, check_pin=demo_pin_check(SANDBOX_PIN), on_outcome=outcomes.put_nowait,
        secret=SANDBOX_SECRET, wait=wait, loopback=True,
    )  # fmt: skip
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
    report: list[tuple[str, Outcome | None, bool]] = []
    try:
        async with (
            Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SANDBOX_SECRET) as box,
            Client("sandbox-key", base_url=box.base_url) as client,
        ):
            receiver.client = client
            for number, name in enumerate(names):
                steps, expected = SCENARIOS[name]
                call_id = await box.ring(f"1415555{number:04d}", media=True, tone_hz=None)
                try:
                    async with asyncio.timeout(30.0):
                        await box.voice(call_id).wait_connected(timeout=10.0)
                        for step in steps:
                            if isinstance(step, Hear):
                                await hears(box, call_id, step.hz)
                            else:
                                await box.press(call_id, step.keys)
                        outcome: Outcome | None = await outcomes.get()
                except (TimeoutError, ValueError) as error:
                    log.warning("%s: the user gave up: %s", name, error or type(error).__name__)
                    outcome = None
                    with contextlib.suppress(Exception):
                        await box.user_hangs_up(call_id)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5.0):
                            await outcomes.get()  # the bot is done with it
                ok = (
                    outcome is not None
                    and outcome == Outcome(call_id, **_fields(expected))
                    and not box.calls[call_id].active
                )
                report.append((name, outcome, ok))
            return report
    finally:
        await receiver.aclose()
        await receiver.router.aclose()
        await runner.cleanup()


def _fields(outcome: Outcome) -> dict[str, Any]:
    return {k: v for k, v in vars(outcome).items() if k != "call_id"}


def describe(outcome: Outcome | None) -> str:
    """One line for a call's outcome (the PIN masked)."""
    if outcome is None:
        return "the call did not go through"
    parts = [f"menu played {outcome.menus}x", f"choice {outcome.choice}"]
    if outcome.pin_ok is not None:
        parts.append(f"PIN {outcome.pin or '(none)'} {'accepted' if outcome.pin_ok else 'refused'}")
    parts.append("bot hung up" if outcome.hung_up else outcome.problem or "bot did not hang up")
    return ", ".join(parts)


def demo_pin_check(pin: str) -> PinCheck:
    """A PIN check for the demos: every caller's PIN is `pin` (a real bot asks its backend)."""

    async def check_pin(wa_id: str, given: str) -> bool:
        return hmac.compare_digest(given, pin)

    return check_pin


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser, media=True)
    parser.add_argument("--pin", default=SANDBOX_PIN, help="the served demo's PIN (default 1234)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    if not args.sandbox:
        where = _serve.target(parser, args)
        receiver = build_receiver(
            None, check_pin=demo_pin_check(args.pin), secret=where.secret, loopback=where.loopback
        )
        _serve.run(_serve.serve(receiver, where))
        return
    report = asyncio.run(demo_with_sandbox())
    for name, outcome, ok in report:
        steps = ", ".join(
            f"hears {s.hz:g} Hz" if isinstance(s, Hear) else f"presses {s.shown}"
            for s in SCENARIOS[name][0]
        )
        print(f"[{'ok' if ok else 'FAIL'}] {name}: the user {steps}")
        print(f"       the bot: {describe(outcome)}")
    sys.exit(0 if all(ok for _, _, ok in report) else 1)


if __name__ == "__main__":
    main()
