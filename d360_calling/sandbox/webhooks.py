"""Webhook payloads in the Cloud API envelope (API reference, §4), their signing and delivery."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable
from typing import Any, Literal

import aiohttp
import attrs

from d360_calling.sandbox.errors import JsonObject
from d360_calling.sandbox.records import Call, Direction, new_id

log = logging.getLogger(__name__)

SignatureScheme = Literal["360dialog", "meta"]
"""`x-360dialog-signature: <hex>` or Meta's `X-Hub-Signature-256: sha256=<hex>` (§4.8)."""


@attrs.frozen
class BusinessPhone:
    """The emulated business number, as webhook metadata names it."""

    display_phone_number: str
    phone_number_id: str
    waba_id: str


@attrs.frozen
class WebhookDelivery:
    """How deliveries misbehave: seeded shuffling of pending ones, and sending each twice.

    Real delivery is neither ordered nor exactly-once (§4.8); these switches let a receiver
    prove it copes.
    """

    shuffle: bool = False
    duplicate: bool = False
    seed: int = 0


@attrs.frozen
class DeliveryFailure:
    """A webhook POST that did not get a 2xx answer, and why: `error` as recorded, `reason`
    in words for people ("connection refused", "HTTP 401"), `url` where it went (None: the
    sandbox has no webhook URL, so the payload was only recorded; never in `failures`)."""

    payload: JsonObject
    error: str
    reason: str = ""
    url: str | None = None


def _ts(seconds: float) -> str:
    return str(int(seconds))


def _envelope(phone: BusinessPhone, field: str, value: JsonObject) -> JsonObject:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": phone.display_phone_number,
            "phone_number_id": phone.phone_number_id,
        },
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": phone.waba_id, "changes": [{"field": field, "value": value}]}],
    }


def _contacts(name: str, wa_id: str) -> list[JsonObject]:
    return [{"profile": {"name": name}, "wa_id": wa_id}]


def _call_event(phone: BusinessPhone, call: Call, event: str, now: float) -> JsonObject:
    inbound = call.direction is Direction.USER_INITIATED
    business = phone.display_phone_number
    entry: JsonObject = {
        "id": call.id,
        "from": call.wa_id if inbound else business,
        "to": business if inbound else call.wa_id,
        "event": event,
        "timestamp": _ts(now),
        "direction": call.direction.value,
    }
    if call.biz_opaque_callback_data is not None:
        entry["biz_opaque_callback_data"] = call.biz_opaque_callback_data
    return entry


def connect_webhook(phone: BusinessPhone, call: Call, name: str, now: float) -> JsonObject:
    """`calls` connect: the user's offer (inbound) or the user's answer (outbound, §4.2)."""
    entry = _call_event(phone, call, "connect", now)
    if call.direction is Direction.USER_INITIATED:
        entry["session"] = {"sdp_type": "offer", "sdp": call.offer_sdp}
        for key in ("cta_payload", "deeplink_payload"):
            if getattr(call, key) is not None:
                entry[key] = getattr(call, key)
    else:
        entry["session"] = {"sdp_type": "answer", "sdp": call.answer_sdp}
    return _envelope(phone, "calls", {"contacts": _contacts(name, call.wa_id), "calls": [entry]})


def status_webhook(phone: BusinessPhone, call: Call, status: str, now: float) -> JsonObject:
    """`calls` statuses: RINGING, ACCEPTED or REJECTED of a business-initiated call (§4.3)."""
    entry: JsonObject = {
        "id": call.id,
        "timestamp": _ts(now),
        "type": "call",
        "status": status,
        "recipient_id": call.wa_id,
    }
    if call.biz_opaque_callback_data is not None:
        entry["biz_opaque_callback_data"] = call.biz_opaque_callback_data
    return _envelope(phone, "calls", {"statuses": [entry]})


def terminate_webhook(phone: BusinessPhone, call: Call, name: str) -> JsonObject:
    """`calls` terminate: COMPLETED, with start/end/duration when the call was picked up (§4.4)."""
    end = call.end_time if call.end_time is not None else call.created_at
    entry = _call_event(phone, call, "terminate", end)
    entry["status"] = "COMPLETED"
    if call.start_time is not None:
        entry["start_time"] = _ts(call.start_time)
        entry["end_time"] = _ts(end)
        entry["duration"] = int(end) - int(call.start_time)
    return _envelope(phone, "calls", {"contacts": _contacts(name, call.wa_id), "calls": [entry]})


def media_webhook(
    phone: BusinessPhone, call: Call, name: str, now: float, *, event: str, media: JsonObject
) -> JsonObject:
    """`calls` `call_recording_available` (`media` is the audio's reference) or
    `call_transcription_available` (the transcript document's), §11.1: `from` is the user."""
    entry: JsonObject = {
        "id": call.id,
        "event": event,
        "from": call.wa_id,
        "to": phone.display_phone_number,
        "timestamp": _ts(now),
    }
    if event == "call_recording_available":
        entry["call_recording"] = {"type": "audio", "audio": media}
    else:
        entry["call_transcript"] = {"document": media}
    return _envelope(phone, "calls", {"contacts": _contacts(name, call.wa_id), "calls": [entry]})


def permission_reply_webhook(
    phone: BusinessPhone,
    wa_id: str,
    name: str,
    now: float,
    *,
    accept: bool,
    permanent: bool,
    expires_at: float | None,
    context_id: str | None,
    automatic: bool = False,
) -> JsonObject:
    """`messages` interactive call_permission_reply (§4.6)."""
    reply: JsonObject = {"response": "accept" if accept else "reject"}
    if accept:
        reply["is_permanent"] = permanent
        if expires_at is not None:
            reply["expiration_timestamp"] = _ts(expires_at)
    reply["response_source"] = "automatic" if automatic else "user_action"
    message: JsonObject = {
        "from": wa_id,
        "id": new_id("wamid"),
        "timestamp": _ts(now),
        "type": "interactive",
    }
    if context_id is not None:
        message["context"] = {"from": phone.display_phone_number, "id": context_id}
    message["interactive"] = {"type": "call_permission_reply", "call_permission_reply": reply}
    return _envelope(phone, "messages", {"contacts": _contacts(name, wa_id), "messages": [message]})


def describe_webhook(payload: JsonObject) -> str:
    """A webhook in a few words, for people: "calls connect", "calls terminate COMPLETED 12 s",
    "calls status RINGING", "messages call_permission_reply accept"."""
    try:
        change = payload["entry"][0]["changes"][0]
        value: dict[str, Any] = change["value"]
        if value.get("calls"):
            call = value["calls"][0]
            words = ["calls", call.get("event"), call.get("status")]
            if "duration" in call:
                words.append(f"{call['duration']} s")
        elif value.get("statuses"):
            words = ["calls status", value["statuses"][0].get("status")]
        else:
            interactive = value["messages"][0].get("interactive", {})
            kind = interactive.get("type")
            words = ["messages", kind, (interactive.get(kind) or {}).get("response")]
    except (KeyError, IndexError, TypeError, AttributeError):
        return "webhook"
    return " ".join(str(word) for word in words if word)


def unreachable_reason(error: BaseException, timeout: float) -> str:
    """Why a POST got no answer at all, in words: "connection refused", "no answer within 5 s"."""
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "its host name does not resolve"
    if isinstance(error, aiohttp.ClientConnectorError):
        os_error = error.os_error
        if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
            return "connection refused"
        return f"cannot connect: {os_error.strerror or os_error}"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "it closed the connection without answering"
    return f"{type(error).__name__}: {error}"


def status_reason(status: int) -> str:
    """An HTTP error answer to a webhook and what it most likely means, in words."""
    signature = "a bad signature? the bot and the sandbox need the same webhook secret"
    path = "is the path right? an SDK Receiver serves /webhook"
    hint = {401: signature, 403: signature, 404: path, 405: path}.get(status)
    return f"HTTP {status}" + (f" ({hint})" if hint else "")


def signature_header(body: bytes, secret: str, scheme: SignatureScheme) -> tuple[str, str]:
    """The header name and value that sign `body` with HMAC-SHA256 under `scheme`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if scheme == "meta":
        return "X-Hub-Signature-256", f"sha256={digest}"
    return "x-360dialog-signature", digest


class Deliverer:
    """Posts webhooks from one background task, recording each; failures never propagate.

    Producers `enqueue()` and carry on (API handlers) or await the returned future (user
    actions). The task takes every pending payload as one batch, shuffles and duplicates it
    as `WebhookDelivery` says, and posts in that order.
    """

    def __init__(
        self,
        *,
        url: str | None,
        secret: str | None,
        scheme: SignatureScheme,
        delivery: WebhookDelivery,
        timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._secret = secret
        self._scheme = scheme
        self._delivery = delivery
        self._timeout = timeout
        self._random = random.Random(delivery.seed)
        self._pending: list[tuple[JsonObject, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.delivered: list[JsonObject] = []
        self.failures: list[DeliveryFailure] = []
        self.on_posted: Callable[[JsonObject, str], None] | None = None
        """Told each payload and its outcome ("200", "HTTP 500", an error, "recorded")."""
        self.on_undelivered: Callable[[DeliveryFailure], None] | None = None
        """Told each payload no bot received: each failure, and each payload only recorded
        for want of a webhook URL (`url` None)."""

    @property
    def url(self) -> str | None:
        """Where webhooks are posted; None: they are only recorded."""
        return self._url

    async def start(self) -> None:
        """Open the HTTP session (when there is a URL) and start the delivery task."""
        if self._url is not None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        self._task = asyncio.create_task(self._run(), name="sandbox-webhooks")

    async def close(self) -> None:
        """Deliver what is pending, then stop the task and close the session."""
        if self._task is not None:
            await self.idle()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def enqueue(self, *payloads: JsonObject) -> asyncio.Future[None]:
        """Queue payloads; the future completes once all of them were posted."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not payloads:
            done.set_result(None)
            return done
        self._pending.extend((payload, done) for payload in payloads)
        self._idle.clear()
        self._wake.set()
        return done

    async def idle(self) -> None:
        """Wait until no delivery is pending or in flight."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(0)  # let producers scheduled in this loop turn join the batch
            self._wake.clear()
            batch, self._pending = self._pending, []
            copies = 2 if self._delivery.duplicate else 1
            order = [payload for payload, _ in batch for _ in range(copies)]
            if self._delivery.shuffle:
                self._random.shuffle(order)
            for payload in order:
                await self._post(payload)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
            if not self._pending:
                self._idle.set()

    async def _post(self, payload: JsonObject) -> None:
        outcome = await self._send(payload)
        if self.on_posted is not None:
            self.on_posted(payload, outcome)

    async def _send(self, payload: JsonObject) -> str:
        self.delivered.append(payload)
        if self._session is None or self._url is None:
            if self.on_undelivered is not None:
                self.on_undelivered(DeliveryFailure(payload, "no webhook URL", "no webhook URL"))
            return "recorded (no webhook URL)"
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            name, value = signature_header(body, self._secret, self._scheme)
            headers[name] = value
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                await response.read()
                if response.status >= 300:
                    status = response.status
                    self._fail(payload, f"HTTP {status}", status_reason(status))
                return str(response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = unreachable_reason(error, self._timeout)
            self._fail(payload, f"{type(error).__name__}: {error}", reason)
            return f"failed: {type(error).__name__}"

    def _fail(self, payload: JsonObject, error: str, reason: str) -> None:
        log.warning("sandbox webhook delivery to %s failed: %s", self._url, error)
        failure = DeliveryFailure(payload, error, reason, self._url)
        self.failures.append(failure)
        if self.on_undelivered is not None:
            self.on_undelivered(failure)
