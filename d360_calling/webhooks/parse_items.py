"""What the item readers share: the change's context, item isolation, its contacts and errors.

Package-private, like the readers that use it (`parse_calls`, `parse_account`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .errors import WebhookError
from .events import Contact, Event, MalformedEvent, Metadata, UnknownEvent, WebhookErrorDetail
from .parse_values import _fail, _int, _items, _kind, _list, _mapping, _object, _str, _time


def _contact(item: Mapping[str, Any], where: str) -> Contact:
    profile = _mapping(item, "profile", where) or {}
    return Contact(
        wa_id=_str(item, "wa_id", where),
        user_id=_str(item, "user_id", where),
        parent_user_id=_str(item, "parent_user_id", where),
        name=_str(profile, "name", f"{where}.profile"),
        username=_str(profile, "username", f"{where}.profile"),
    )


def _errors(obj: Mapping[str, Any], where: str) -> tuple[WebhookErrorDetail, ...]:
    details = []
    for index, item in enumerate(_items(obj, "errors", where)):
        at = f"{where}.errors[{index}]"
        error_data = item.get("error_data")
        if isinstance(error_data, Mapping):
            detail = _str(error_data, "details", f"{at}.error_data")
        elif error_data is None or isinstance(error_data, str):
            detail = error_data
        else:
            _fail(f"{at}.error_data", f"expected an object, got {_kind(error_data)}")
        details.append(
            WebhookErrorDetail(
                code=_int(item, "code", at),
                title=_str(item, "title", at),
                message=_str(item, "message", at),
                href=_str(item, "href", at),
                details=detail,
            )
        )
    return tuple(details)


@attrs.frozen
class _Value:
    """What a change's `value` shares among its events: where, for whom, about whom."""

    field: str
    where: str
    waba_id: str | None
    metadata: Metadata | None
    contacts: tuple[Contact, ...]
    strict: bool

    def contact_for(self, *ids: object) -> Contact | None:
        """The contact whose wa_id or user id is one of `ids`, else the only contact."""
        for contact in self.contacts:
            if (contact.wa_id is not None and contact.wa_id in ids) or (
                contact.user_id is not None and contact.user_id in ids
            ):
                return contact
        return self.contacts[0] if len(self.contacts) == 1 else None

    def each(
        self, raw: Mapping[str, Any], key: str, read: Callable[[Mapping[str, Any], str], Event]
    ) -> list[Event]:
        """`read(item, where)` for each item of the list at `key`, each isolated from the rest."""
        events: list[Event] = []
        for index, item in enumerate(_list(raw, key, self.where)):
            at = f"{self.where}.{key}[{index}]"
            events += _isolated(
                lambda: [read(_object(item, at), at)],  # noqa: B023 - called at once
                item,
                field=self.field,
                item_key=key,
                waba_id=self.waba_id,
                strict=self.strict,
                metadata=self.metadata,
            )
        return events

    def unknown(self, raw: Mapping[str, Any], item_key: str | None) -> UnknownEvent:
        """`raw` kept whole, with its timestamp and contact when they can be read."""
        timestamp = raw.get("timestamp")
        try:
            moment = _time(raw, "timestamp", self.where) if timestamp is not None else None
        except WebhookError:
            moment = None
        ids = (raw.get("from"), raw.get("to"), raw.get("recipient_id"), raw.get("from_user_id"))
        return UnknownEvent(
            field=self.field,
            raw=raw,
            item_key=item_key,
            timestamp=moment,
            contact=self.contact_for(*ids) if item_key is not None else None,
            metadata=self.metadata,
            waba_id=self.waba_id,
        )


def _isolated(
    read: Callable[[], list[Event]],
    raw: Any,
    *,
    field: str | None,
    item_key: str,
    waba_id: str | None,
    strict: bool,
    metadata: Metadata | None = None,
) -> list[Event]:
    """The events `read()` returns, or one `MalformedEvent` for `raw` if it cannot be read
    (in strict mode the `WebhookError` is raised instead)."""
    try:
        return read()
    except WebhookError as error:
        if strict:
            raise
        return [
            MalformedEvent(
                field=field,
                raw=raw,
                error=error,
                item_key=item_key,
                waba_id=waba_id,
                metadata=metadata,
            )
        ]
