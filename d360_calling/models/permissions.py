"""Models of `GET /calling/permissions/{wa_id}` and the helpers derived from its fields."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from .checks import checked
from .enums import OpenEnum


class PermissionStatus(OpenEnum):
    """Whether the user allows the business to call: none, for 7 days, or until revoked.

    `granted` is the word of Meta's OpenAPI examples for a permission. Other values (the same
    examples also use `expired`, `denied` and `pending`) are kept as unknown members and never
    count as a grant. Whether a call may start now is the `start_call` action's to say.
    """

    NO_PERMISSION = "no_permission"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"
    GRANTED = "granted"

    @property
    def grants_calls(self) -> bool:
        """Whether this status is a permission to call (`temporary`, `permanent`, `granted`);
        an unknown status never is."""
        return self in _GRANTS


_GRANTS: Final = frozenset(
    {PermissionStatus.TEMPORARY, PermissionStatus.PERMANENT, PermissionStatus.GRANTED}
)


class PermissionActionName(OpenEnum):
    """Actions the permissions response reports on."""

    SEND_CALL_PERMISSION_REQUEST = "send_call_permission_request"
    START_CALL = "start_call"


@attrs.frozen(field_transformer=checked)
class Permission:
    """The user's call permission; `expiration_time` is set only for temporary ones."""

    status: PermissionStatus = attrs.field(converter=PermissionStatus)
    expiration_time: datetime | None = None


@attrs.frozen(field_transformer=checked)
class ActionLimit:
    """One rolling limit on an action: `limit_expiration_time` is set once it is exhausted."""

    time_period: str
    max_allowed: int
    current_usage: int
    limit_expiration_time: datetime | None = None

    @property
    def exhausted(self) -> bool:
        """Whether the limit is used up for its current period."""
        return self.current_usage >= self.max_allowed


@attrs.frozen(field_transformer=checked)
class PermissionAction:
    """An action (start a call, ask for permission), whether it is allowed now, and its limits."""

    action_name: PermissionActionName = attrs.field(converter=PermissionActionName)
    can_perform_action: bool
    limits: tuple[ActionLimit, ...] = ()

    @property
    def next_allowed_at(self) -> datetime | None:
        """When the last exhausted limit frees up, or `None` if no limit is exhausted."""
        times = [
            limit.limit_expiration_time
            for limit in self.limits
            if limit.exhausted and limit.limit_expiration_time is not None
        ]
        return max(times, default=None)


@attrs.frozen(field_transformer=checked)
class CallPermissions:
    """A user's call permission and what the business may do with it now."""

    permission: Permission
    actions: tuple[PermissionAction, ...] = ()
    messaging_product: str | None = None

    def action(self, name: PermissionActionName | str) -> PermissionAction | None:
        """The reported action of that name, if the API listed it."""
        wanted = PermissionActionName(name)
        return next((a for a in self.actions if a.action_name == wanted), None)

    @property
    def status(self) -> PermissionStatus:
        """The permission's status (`no_permission`, `temporary`, `permanent`, ...)."""
        return self.permission.status

    @property
    def expires_at(self) -> datetime | None:
        """When a temporary permission runs out."""
        return self.permission.expiration_time

    @property
    def has_permission(self) -> bool:
        """Whether the status word is a grant (`temporary`, `permanent`, `granted`). Limits may
        still forbid a call now: `can_start_call` says whether one may start."""
        return self.permission.status.grants_calls

    @property
    def can_start_call(self) -> bool:
        """Whether `calls.connect` to this user is allowed now, all limits considered."""
        start = self.action(PermissionActionName.START_CALL)
        return start is not None and start.can_perform_action

    @property
    def can_request_permission(self) -> bool:
        """Whether a call permission request may be sent to this user now."""
        request = self.action(PermissionActionName.SEND_CALL_PERMISSION_REQUEST)
        return request is not None and request.can_perform_action

    @property
    def next_call_allowed_at(self) -> datetime | None:
        """When a call is allowed again if a limit blocks it now; `None` if none does."""
        start = self.action(PermissionActionName.START_CALL)
        return None if start is None else start.next_allowed_at

    @property
    def next_permission_request_allowed_at(self) -> datetime | None:
        """When a permission request is allowed again if a limit blocks it now."""
        request = self.action(PermissionActionName.SEND_CALL_PERMISSION_REQUEST)
        return None if request is None else request.next_allowed_at
