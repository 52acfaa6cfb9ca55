"""Models: open enums keep unknown values, permission helpers, session descriptions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from d360_calling import (
    ActionLimit,
    AudioCodec,
    CallAction,
    CallIconVisibility,
    CallPermissions,
    FeatureStatus,
    Permission,
    PermissionAction,
    PermissionActionName,
    PermissionStatus,
    RestrictionType,
    SdpType,
    SessionDescription,
    SrtpKeyExchangeProtocol,
    VoicemailTrigger,
    Weekday,
)
from d360_calling.models.converter import converter
from d360_calling.models.enums import OpenEnum

from ..support.samples import OFFER_SDP

ENUMS: list[type[OpenEnum]] = [
    SdpType,
    CallAction,
    FeatureStatus,
    PermissionStatus,
    PermissionActionName,
    CallIconVisibility,
    Weekday,
    SrtpKeyExchangeProtocol,
    AudioCodec,
    VoicemailTrigger,
    RestrictionType,
]


def is_unknown(cls: type[OpenEnum], value: str) -> bool:
    return all(member.value.casefold() != value.casefold() for member in cls)


@given(cls=st.sampled_from(ENUMS), value=st.text(max_size=40))
def test_open_enum_keeps_unknown_values(cls: type[OpenEnum], value: str) -> None:
    assume(is_unknown(cls, value))
    member = converter.structure(value, cls)
    assert isinstance(member, cls)
    assert member.value == value
    assert member == value
    assert member.is_known is False
    assert converter.unstructure(member) == value


@given(value=st.text(min_size=1, max_size=40))
def test_unknown_enum_inside_a_model_round_trips(value: str) -> None:
    assume(is_unknown(PermissionStatus, value) and is_unknown(PermissionActionName, value))
    payload = {
        "permission": {"status": value, "expiration_time": 1745343479},
        "actions": [{"action_name": value, "can_perform_action": False, "limits": []}],
    }
    perms = converter.structure(payload, CallPermissions)
    assert converter.unstructure(perms) == payload


@pytest.mark.parametrize("cls", ENUMS)
def test_known_values_are_members_case_insensitively(cls: type[OpenEnum]) -> None:
    for member in cls:
        assert converter.structure(member.value, cls) is member
        assert cls(member.value.swapcase()) is member
        assert member.is_known is True


def test_non_string_enum_value_is_refused() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        FeatureStatus(1)  # type: ignore[arg-type]


# --- CallPermissions helpers ---------------------------------------------------------------


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def perms(*actions: dict[str, Any], permission: dict[str, Any] | None = None) -> CallPermissions:
    payload = {"permission": permission or {"status": "temporary"}, "actions": list(actions)}
    return converter.structure(payload, CallPermissions)


def limit(usage: int, allowed: int, expires: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"time_period": "PT24H", "max_allowed": allowed, "current_usage": usage}
    if expires is not None:
        out["limit_expiration_time"] = expires
    return out


def test_next_call_allowed_at_is_latest_exhausted_limit() -> None:
    result = perms(
        {
            "action_name": "start_call",
            "can_perform_action": False,
            "limits": [
                limit(5, 5, 1_000),
                limit(100, 100, 3_000),
                limit(1, 10, 9_000),  # not exhausted: its time does not count
                limit(2, 2, 2_000),
            ],
        }
    )
    assert result.next_call_allowed_at == ts(3_000)
    assert result.can_start_call is False
    assert result.action("start_call").next_allowed_at == ts(3_000)  # type: ignore[union-attr]


def test_next_call_allowed_at_none_without_exhausted_limits() -> None:
    result = perms(
        {"action_name": "start_call", "can_perform_action": True, "limits": [limit(1, 5)]},
        {"action_name": "send_call_permission_request", "can_perform_action": True},
    )
    assert result.next_call_allowed_at is None
    assert result.next_permission_request_allowed_at is None
    assert result.can_start_call is True
    assert result.can_request_permission is True


def test_exhausted_limit_without_time_is_ignored() -> None:
    result = perms(
        {"action_name": "start_call", "can_perform_action": False, "limits": [limit(5, 5)]}
    )
    assert result.next_call_allowed_at is None


def test_missing_actions_mean_not_allowed() -> None:
    result = perms(permission={"status": "no_permission"})
    assert result.actions == ()
    assert result.can_start_call is False
    assert result.can_request_permission is False
    assert result.next_call_allowed_at is None
    assert result.expires_at is None
    assert result.status is PermissionStatus.NO_PERMISSION


def test_permission_request_helpers() -> None:
    result = perms(
        {
            "action_name": "send_call_permission_request",
            "can_perform_action": False,
            "limits": [limit(1, 1, 500), limit(2, 2, 700)],
        },
        permission={"status": "temporary", "expiration_time": "1745343479"},
    )
    assert result.can_request_permission is False
    assert result.next_permission_request_allowed_at == ts(700)
    assert result.next_call_allowed_at is None
    assert result.expires_at == ts(1745343479)


def test_expiration_alias_loses_to_canonical_key() -> None:
    result = perms(permission={"status": "temporary", "expiration": 1, "expiration_time": 2})
    assert result.expires_at == ts(2)


def test_action_limit_exhausted() -> None:
    assert ActionLimit("PT24H", 1, 1).exhausted is True
    assert ActionLimit("PT24H", 1, 2).exhausted is True
    assert ActionLimit("PT24H", 2, 1).exhausted is False


def test_crafted_model_helpers() -> None:
    result = CallPermissions(
        permission=Permission(PermissionStatus.PERMANENT),
        actions=(
            PermissionAction(
                PermissionActionName.START_CALL,
                False,
                (ActionLimit("P7D", 1, 1, ts(50)), ActionLimit("PT24H", 1, 1, ts(40))),
            ),
        ),
    )
    assert result.next_call_allowed_at == ts(50)
    assert result.action(PermissionActionName.SEND_CALL_PERMISSION_REQUEST) is None


# --- SessionDescription --------------------------------------------------------------------


def test_session_description_factories() -> None:
    offer = SessionDescription.offer(OFFER_SDP)
    answer = SessionDescription.answer(OFFER_SDP)
    assert (offer.sdp_type, offer.sdp) == (SdpType.OFFER, OFFER_SDP)
    assert (answer.sdp_type, answer.sdp) == (SdpType.ANSWER, OFFER_SDP)
    assert converter.unstructure(offer) == {"sdp_type": "offer", "sdp": OFFER_SDP}
    assert converter.unstructure(answer) == {"sdp_type": "answer", "sdp": OFFER_SDP}
    assert OFFER_SDP not in repr(offer)
    assert f"<{len(OFFER_SDP)} chars>" in repr(offer)


def test_session_description_is_frozen() -> None:
    offer = SessionDescription.offer(OFFER_SDP)
    with pytest.raises(AttributeError):
        offer.sdp = "x"  # type: ignore[misc]
