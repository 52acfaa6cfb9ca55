"""`Sandbox`: the emulator's lifecycle and the user's side of every call, for tests and demos."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Final, Literal, Self

from aiohttp import web

from d360_calling.sandbox.app import SandboxApp
from d360_calling.sandbox.clock import SandboxClock
from d360_calling.sandbox.engine import Engine
from d360_calling.sandbox.errors import JsonObject
from d360_calling.sandbox.faults import FaultPlan
from d360_calling.sandbox.fields import is_wa_id
from d360_calling.sandbox.limits import Limits
from d360_calling.sandbox.network import Network, check_network
from d360_calling.sandbox.phone.hub import PhoneHub
from d360_calling.sandbox.phone.trust import check_phone_host
from d360_calling.sandbox.recordings import CallRecording
from d360_calling.sandbox.records import Call, PermissionStatus
from d360_calling.sandbox.sdp import OFFER_SDP
from d360_calling.sandbox.state import CallingState
from d360_calling.sandbox.stats import Stats
from d360_calling.sandbox.webhooks import (
    BusinessPhone,
    Deliverer,
    DeliveryFailure,
    SignatureScheme,
    WebhookDelivery,
)

if TYPE_CHECKING:
    from d360_calling.sandbox.peer import UserPeer

DEFAULT_TONE_HZ: Final = 440.0
"""What a sandbox user with `media=True` says unless told otherwise."""

DEFAULT_PHONE_USER: Final = "14155550123"
"""The WhatsApp user the /phone page is, unless told otherwise."""


class Sandbox:
    """An in-memory Calling API on a local port, with webhooks, limits and fault injection.

    Calling is ENABLED in a fresh sandbox (the real default is DISABLED) so a test can place
    calls at once; pass `calling_enabled=False` or update the settings to test 138000.
    With `phone=True` it also serves the /phone page (`phone_url`), where a person in a browser
    is the WhatsApp user `phone_user`: calls the bot, answers it, taps its buttons; as anyone who
    reaches the page can do that, `phone=True` takes only a loopback `host` (ValueError).
    """

    def __init__(
        self,
        api_key: str = "sandbox-key",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        signature: SignatureScheme = "360dialog",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: SandboxClock | None = None,
        limits: Limits | None = None,
        faults: FaultPlan | None = None,
        delivery: WebhookDelivery | None = None,
        *,
        calling_enabled: bool = True,
        business_number: str = "15550001234",
        phone_number_id: str = "100000000000001",
        waba_id: str = "200000000000001",
        phone: bool = False,
        phone_user: str = DEFAULT_PHONE_USER,
    ) -> None:
        if signature not in ("360dialog", "meta"):
            raise ValueError(f'signature must be "360dialog" or "meta", got {signature!r}')
        if not is_wa_id(phone_user):
            raise ValueError(f"phone_user is a WhatsApp ID (ASCII digits), got {phone_user!r}")
        if phone:
            check_phone_host(host)
        self.clock = clock or SandboxClock()
        self.limits = limits or Limits()
        self.faults = faults or FaultPlan()
        self.stats = Stats()
        self._host = host
        self._port = port
        self._api_key, self._webhook_secret = api_key, webhook_secret
        self._state = CallingState(self.limits, calling_enabled=calling_enabled)
        self._deliverer = Deliverer(
            url=webhook_url,
            secret=webhook_secret,
            scheme=signature,
            delivery=delivery or WebhookDelivery(),
        )
        business = BusinessPhone(business_number, phone_number_id, waba_id)
        self._engine = Engine(self._state, self.clock, self._deliverer, business)
        self._hub: PhoneHub | None = None
        if phone:
            self._hub = PhoneHub(self._engine, wa_id=phone_user, host=host)
            self._engine.hub = self._hub
            self._engine.recordings.listener = self._hub
            self._deliverer.on_posted = self._hub.webhook_posted
            self._deliverer.on_undelivered = self._hub.webhook_undelivered
        self._app = SandboxApp(
            self._engine, api_key=api_key, faults=self.faults, stats=self.stats, phone=self._hub
        )
        self._runner: web.AppRunner | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._bound_port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start webhook delivery and serve HTTP on host:port (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        self._app.closing.clear()
        if self._hub is not None:
            self._hub.start()
        await self._deliverer.start()
        runner = web.AppRunner(self._app.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self._deliverer.close()
            raise
        self._runner = runner
        self._bound_port = runner.addresses[0][1]
        self._unsubscribe = self.clock.subscribe(self._engine.expire)

    async def close(self) -> None:
        """Stop serving, deliver pending webhooks, close the webhook session."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._app.closing.set()
        if self._hub is not None:
            await self._hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner, self._bound_port = None, None
        await self._engine.recordings.close()
        await self._deliverer.close()
        await self._engine.voices.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- inspection -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """ "http://HOST:PORT" of the running sandbox."""
        if self._bound_port is None:
            raise RuntimeError("the sandbox is not running; use `async with Sandbox(...)`")
        return f"http://{self._host}:{self._bound_port}"

    @property
    def phone_url(self) -> str:
        """ "http://HOST:PORT/phone", the page of a sandbox made with `phone=True`."""
        if self._hub is None:
            raise RuntimeError("this sandbox has no phone page; make it with phone=True")
        return f"{self.base_url}/phone"

    @property
    def api_key(self) -> str:
        """The key the sandbox takes in `D360-API-KEY`."""
        return self._api_key

    @property
    def webhook_url(self) -> str | None:
        """Where webhooks are posted; None: they are only recorded (`webhooks`)."""
        return self._deliverer.url

    @property
    def webhook_secret(self) -> str | None:
        """What webhooks are signed with; None: they are posted unsigned."""
        return self._webhook_secret

    @property
    def port(self) -> int:
        """The TCP port the sandbox listens on."""
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def calls(self) -> Mapping[str, Call]:
        """Every call by id (read-only); ringing calls past the timeout are ended first."""
        self._engine.expire()
        return MappingProxyType(self._state.calls)

    @property
    def webhooks(self) -> list[JsonObject]:
        """Every webhook payload sent (or, without a URL, recorded), in delivery order."""
        return self._deliverer.delivered

    @property
    def webhook_failures(self) -> list[DeliveryFailure]:
        """Deliveries that got no 2xx answer, with the reason."""
        return self._deliverer.failures

    @property
    def settings(self) -> JsonObject:
        """The stored `calling` settings, SIP passwords included (a copy)."""
        return self._state.settings_view(include_sip_credentials=True)

    async def webhooks_idle(self) -> None:
        """Wait until every queued webhook was delivered, the recording webhooks of the calls
        that ended included."""
        await self._engine.recordings.idle()
        await self._deliverer.idle()

    # -- recordings and transcripts -------------------------------------------------------

    @property
    def recordings(self) -> Mapping[str, CallRecording]:
        """By call id, the calls that asked for recording or transcription (read-only): their
        `state`, `seconds`, `recording` and `transcript` (`StoredMedia`: `id`, `sha256`,
        `data`, ...), `audio` and `document`."""
        return MappingProxyType(self._engine.recordings.calls)

    def media_of(self, call_id: str) -> CallRecording:
        """The recording record of `call_id`; KeyError for a call that asked for none."""
        try:
            return self._engine.recordings.calls[call_id]
        except KeyError:
            raise KeyError(
                f"{call_id} asked for no recording or transcription (on connect or accept)"
            ) from None

    def script_transcript(
        self, call_id: str, lines: Iterable[tuple[str, str]], *, language: str = "en"
    ) -> None:
        """What the transcript of `call_id` says (the sandbox does no speech recognition):
        (speaker, text) lines, speaker "Business" or "Customer", spread over the recording.

        Call it before the call ends: RuntimeError once its transcript was made. ValueError
        for an unknown call or another speaker. Without a script the transcript is empty.
        """
        call = self._state.calls.get(call_id)
        self._engine.recordings.script(call, call_id, lines, language)

    # -- the user's side ------------------------------------------------------------------

    async def ring(
        self,
        wa_id: str,
        sdp: str = OFFER_SDP,
        cta_payload: str | None = None,
        deeplink_payload: str | None = None,
        name: str | None = None,
        *,
        media: bool = False,
        tone_hz: float | None = DEFAULT_TONE_HZ,
        network: Network | None = None,
    ) -> str:
        """The user calls the business; returns the call id once the connect webhook is sent.

        With `media=True` the user is a real WebRTC peer on loopback (the `[media]` extra): its
        offer replaces `sdp`, it says `tone_hz` (None: silence) once the bot answers, and
        `voice(call_id)` tells what it heard; `network` (else ValidationError) impairs its media.
        """
        check_network(network, media=media)
        voice = await self._engine.voices.offer(tone_hz, network) if media else None
        try:
            return await self._engine.ring(
                wa_id,
                sdp=sdp if voice is None else voice.sdp,
                cta_payload=cta_payload,
                deeplink_payload=deeplink_payload,
                name=name,
                voice=voice,
            )
        except BaseException:
            if voice is not None:
                await voice.close()
            raise

    async def user_answers(
        self,
        call_id: str,
        *,
        media: bool = False,
        tone_hz: float | None = DEFAULT_TONE_HZ,
        network: Network | None = None,
    ) -> None:
        """The user picks up a business-initiated call (ACCEPTED + connect with the SDP answer).

        With `media=True` the answer is a real peer's, saying `tone_hz` (the `[media]` extra),
        its media through `network` as in `ring`.
        """
        check_network(network, media=media)
        await self._engine.user_answers(
            call_id, tone_hz=tone_hz if media else None, network=network
        )

    def voice(self, call_id: str) -> UserPeer:
        """The user's WebRTC peer on a call made with `media=True`: `dominant_frequency()`,
        `heard_pcm()`, `play_tone()`, `play_file()`; `KeyError` for a call without media."""
        return self._engine.voices.get(call_id)

    async def press(
        self, call_id: str, digits: str, *, tone_ms: int = 500, gap_ms: int = 100
    ) -> None:
        """The user presses keys (0-9, *, #) on a media call, as 360dialog sends them: RFC 4733
        tones of `tone_ms` with `gap_ms` between; returns once the last tone was sent.

        ValueError for a call without media (or not connected) and for bad keys or timings.
        """
        voice = self._engine.voices.acting(call_id)
        await voice.press(digits, tone_ms=tone_ms, gap_ms=gap_ms)

    def go_quiet(self, call_id: str) -> None:
        """The user's phone sends no more audio (RTP or RTCP) on a media call, which stays up:
        ICE consent goes on, nobody hangs up. ValueError for a call without media."""
        self._engine.voices.acting(call_id).go_quiet()

    async def user_rejects(self, call_id: str) -> None:
        """The user declines a business-initiated call (REJECTED + terminate)."""
        await self._engine.user_rejects(call_id)

    async def user_hangs_up(self, call_id: str) -> None:
        """The user ends a ringing or connected call (terminate)."""
        await self._engine.user_hangs_up(call_id)

    async def user_answers_permission(
        self, wa_id: str, accept: bool = True, permanent: bool = False
    ) -> None:
        """The user answers a call permission request (call_permission_reply webhook)."""
        await self._engine.user_answers_permission(wa_id, accept=accept, permanent=permanent)

    async def user_taps_call_button(
        self,
        message_id: str,
        sdp: str = OFFER_SDP,
        *,
        media: bool = False,
        tone_hz: float | None = DEFAULT_TONE_HZ,
    ) -> str:
        """The user taps the button of a voice_call message; returns the new call's id (with
        `media=True` the user is a real peer, as in `ring`)."""
        voice = await self._engine.voices.offer(tone_hz) if media else None
        try:
            return await self._engine.user_taps_call_button(
                message_id, sdp=sdp if voice is None else voice.sdp, voice=voice
            )
        except BaseException:
            if voice is not None:
                await voice.close()
            raise

    def set_permission(
        self, wa_id: str, status: Literal["temporary", "permanent", "no_permission"]
    ) -> None:
        """Set a user's call permission directly (no webhook)."""
        self._state.set_permission(wa_id, PermissionStatus(status), self.clock.now())

    def set_uncallable(self, wa_id: str, uncallable: bool = True) -> None:
        """Mark a user as unable to receive calls (connect fails with 138001)."""
        if uncallable:
            self._state.uncallable.add(wa_id)
        else:
            self._state.uncallable.discard(wa_id)
