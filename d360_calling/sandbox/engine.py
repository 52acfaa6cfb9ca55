"""The glue between state and webhooks: every action changes state, then emits its webhooks.

API operations are synchronous and queue their webhooks, so the HTTP answer is not delayed;
user actions are coroutines that await their own deliveries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from d360_calling.sandbox.clock import SandboxClock
from d360_calling.sandbox.errors import JsonObject
from d360_calling.sandbox.fields import is_wa_id
from d360_calling.sandbox.media_store import MediaStore, StoredMedia
from d360_calling.sandbox.recordings import Recordings
from d360_calling.sandbox.records import Call, PermissionStatus, iso
from d360_calling.sandbox.sdp import ANSWER_SDP
from d360_calling.sandbox.state import CallingState
from d360_calling.sandbox.validation import CallAction, OutboundMessage
from d360_calling.sandbox.voices import Voices
from d360_calling.sandbox.webhooks import (
    BusinessPhone,
    Deliverer,
    connect_webhook,
    permission_reply_webhook,
    status_webhook,
    terminate_webhook,
)

if TYPE_CHECKING:
    from d360_calling.sandbox.network import Network
    from d360_calling.sandbox.peer import UserPeer
    from d360_calling.sandbox.phone.hub import PhoneHub


class Engine:
    """Runs API operations and user actions against one `CallingState`."""

    def __init__(
        self,
        state: CallingState,
        clock: SandboxClock,
        deliverer: Deliverer,
        phone: BusinessPhone,
    ) -> None:
        self.state = state
        self.clock = clock
        self.deliverer = deliverer
        self.phone = phone
        self.voices = Voices()
        self.media = MediaStore(state.limits)
        self.recordings = Recordings(
            clock=clock,
            limits=state.limits,
            store=self.media,
            deliverer=deliverer,
            phone=phone,
            voices=self.voices,
        )
        self.hub: PhoneHub | None = None
        """The /phone page's hub, told of every call change and message (`Sandbox(phone=True)`)."""

    def _name(self, wa_id: str) -> str:
        return self.state.user(wa_id).name

    def _changed(self, call: Call) -> None:
        if self.hub is not None:
            self.hub.call_changed(call)

    def _terminate(self, call: Call) -> JsonObject:
        return terminate_webhook(self.phone, call, self._name(call.wa_id))

    def expire(self) -> None:
        """Time out unanswered calls past the ring timeout and queue their terminate webhooks;
        drop media past retention."""
        now = self.clock.now()
        self.media.purge(now)
        expired = self.state.expire(now)
        for call in expired:
            self.voices.ended(call.id)
            self._changed(call)
        if expired:
            self.deliverer.enqueue(*(self._terminate(call) for call in expired))

    # -- API operations -------------------------------------------------------------------

    def call_action(self, action: CallAction) -> JsonObject:
        """`POST /calling/calls`: apply the action, queue its webhooks, return the body."""
        now = self.clock.now()
        call = self.state.apply(action, now)
        self._changed(call)
        if action.action == "connect":
            self.deliverer.enqueue(status_webhook(self.phone, call, "RINGING", now))
            return {"messaging_product": "whatsapp", "calls": [{"id": call.id}]}
        if action.action in ("pre_accept", "accept"):
            self.voices.business_answered(call.id, action.sdp)
        if action.action == "accept":
            self.recordings.connected(call)
        if action.action in ("reject", "terminate"):
            self.recordings.ended(call, self._name(call.wa_id))
            self.voices.ended(call.id)
            self.deliverer.enqueue(self._terminate(call))
        return {"messaging_product": "whatsapp", "success": True}

    def permissions(self, wa_id: str) -> JsonObject:
        """`GET /calling/permissions/{wa_id}`."""
        return self.state.permissions_view(wa_id, self.clock.now())

    def settings(self, *, include_sip_credentials: bool) -> JsonObject:
        """`GET /calling/settings`."""
        view = self.state.settings_view(include_sip_credentials=include_sip_credentials)
        return {"calling": view}

    def update_settings(self, calling: JsonObject) -> JsonObject:
        """`POST /calling/settings`."""
        self.state.update_settings(calling)
        return {"success": True}

    def media_lookup(self, media_id: str) -> JsonObject:
        """`GET /{media-id}`: 429 while the error throttle blocks it (§11.2)."""
        now = self.clock.now()
        self.media.throttle.check(now)
        return self.media.lookup(media_id, now)

    def media_download(self, query: dict[str, str]) -> StoredMedia:
        """`GET /whatsapp_business/attachments/?mid&ext&hash`: the media the URL names."""
        return self.media.download(query, self.clock.now())

    def recording_file(self, call_id: str) -> StoredMedia | None:
        """The stored recording of `call_id` (for the /phone page), if it has one still."""
        record = self.recordings.calls.get(call_id)
        media = None if record is None else record.recording
        return media if media is not None and media.data is not None else None

    def send_message(self, message: OutboundMessage, body: object = None) -> JsonObject:
        """`POST /messages` (`body`, the request's JSON, is what the /phone page shows)."""
        message_id = self.state.send_message(message, self.clock.now())
        if self.hub is not None:
            self.hub.message_sent(message_id, message, body)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": message.to, "wa_id": message.to}],
            "messages": [{"id": message_id}],
        }

    # -- user actions ---------------------------------------------------------------------

    async def ring(
        self,
        wa_id: str,
        *,
        sdp: str,
        cta_payload: str | None,
        deeplink_payload: str | None,
        name: str | None,
        voice: UserPeer | None = None,
        page: bool = False,
    ) -> str:
        """The user calls; the connect webhook (and an automatic callback grant) is delivered.

        With a `voice` (a real peer whose offer is `sdp`) the bot's answer is applied to it;
        with `page` the call is the /phone page's, which gets the bot's answer.
        """
        if not is_wa_id(wa_id):
            raise ValueError(f"a WhatsApp ID is ASCII digits, got {wa_id!r}")
        self.expire()
        now = self.clock.now()
        if name is not None:
            self.state.user(wa_id).name = name
        call = self.state.ring(wa_id, sdp, now, cta=cta_payload, deeplink=deeplink_payload)
        if voice is not None:
            self.voices.adopt(call.id, voice)
        if page and self.hub is not None:
            self.hub.adopt(call.id)
        self._changed(call)
        payloads = [connect_webhook(self.phone, call, self._name(wa_id), now)]
        callback = self.state.settings.get("callback_permission_status") == "ENABLED"
        if callback and self.state.permission(wa_id, now) is PermissionStatus.NO_PERMISSION:
            self.state.set_permission(wa_id, PermissionStatus.TEMPORARY, now)
            payloads.append(
                permission_reply_webhook(
                    self.phone,
                    wa_id,
                    self._name(wa_id),
                    now,
                    accept=True,
                    permanent=False,
                    expires_at=self.state.user(wa_id).expires_at,
                    context_id=call.id,
                    automatic=True,
                )
            )
        await self.deliverer.enqueue(*payloads)
        return call.id

    async def user_answers(
        self,
        call_id: str,
        *,
        tone_hz: float | None = None,
        sdp: str | None = None,
        network: Network | None = None,
    ) -> None:
        """The user picks up a business-initiated call: ACCEPTED, then connect with the answer
        (a real peer's, saying `tone_hz` through `network`, when a tone is given; else `sdp`,
        the /phone page's, or the static sample)."""
        self.expire()
        answer = ANSWER_SDP if sdp is None else sdp
        call = self.state.calls.get(call_id)
        if tone_hz is not None and call is not None and call.active:
            answer = await self.voices.answer(call_id, call.offer_sdp, tone_hz, network)
        now = self.clock.now()
        call = self.state.user_answers(call_id, now, answer)
        self.recordings.connected(call)
        self._changed(call)
        await self.deliverer.enqueue(
            status_webhook(self.phone, call, "ACCEPTED", now),
            connect_webhook(self.phone, call, self._name(call.wa_id), now),
        )

    async def user_rejects(self, call_id: str) -> None:
        """The user declines a business-initiated call: REJECTED, then terminate."""
        self.expire()
        now = self.clock.now()
        call = self.state.user_rejects(call_id, now)
        self.voices.ended(call.id)
        self._changed(call)
        await self.deliverer.enqueue(
            status_webhook(self.phone, call, "REJECTED", now), self._terminate(call)
        )

    async def user_hangs_up(self, call_id: str) -> None:
        """The user ends a call (ringing or connected): terminate."""
        self.expire()
        call = self.state.user_hangs_up(call_id, self.clock.now())
        self.recordings.ended(call, self._name(call.wa_id))
        self.voices.ended(call.id)
        self._changed(call)
        await self.deliverer.enqueue(self._terminate(call))

    async def user_answers_permission(self, wa_id: str, *, accept: bool, permanent: bool) -> None:
        """The user answers a permission request; the stored permission follows."""
        now = self.clock.now()
        if not accept:
            status = PermissionStatus.NO_PERMISSION
        else:
            status = PermissionStatus.PERMANENT if permanent else PermissionStatus.TEMPORARY
        self.state.set_permission(wa_id, status, now)
        user = self.state.user(wa_id)
        await self.deliverer.enqueue(
            permission_reply_webhook(
                self.phone,
                wa_id,
                user.name,
                now,
                accept=accept,
                permanent=permanent,
                expires_at=user.expires_at,
                context_id=user.last_request_id,
            )
        )

    async def user_taps_call_button(
        self, message_id: str, *, sdp: str, voice: UserPeer | None = None, page: bool = False
    ) -> str:
        """The user taps a voice_call button: a call carrying the button's payload."""
        message = self.state.messages.get(message_id)
        if message is None or message.kind != "voice_call":
            raise ValueError(f"{message_id!r} is not a voice_call message sent by the business")
        if message.expires_at <= self.clock.now():
            raise ValueError(
                f"the call button of {message_id} expired at {iso(message.expires_at)}"
            )
        return await self.ring(
            message.to,
            sdp=sdp,
            cta_payload=message.payload,
            deeplink_payload=None,
            name=None,
            voice=voice,
            page=page,
        )
