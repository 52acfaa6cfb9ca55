"""Request and response bodies from the API reference (calling-api.md §1-§5), as data."""

from __future__ import annotations

from typing import Any, Final

API_KEY: Final = "test-key-SECRET"
SIP_PASSWORD: Final = "sip-PASS-SECRET-42"
DEFAULT_BASE_URL: Final = "https://waba-v2.360dialog.io"

WA_ID: Final = "14085551234"
CALL_ID: Final = "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh"
OFFER_SDP: Final = (
    "v=0\r\no=- 7669997803033704573 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\na=setup:actpass\r\n"
    "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
)
ANSWER_SDP: Final = OFFER_SDP.replace("a=setup:actpass", "a=setup:active")

SUCCESS: Final[dict[str, Any]] = {"messaging_product": "whatsapp", "success": True}
BARE_SUCCESS: Final[dict[str, Any]] = {"success": True}
CONNECT_RESPONSE: Final[dict[str, Any]] = {
    "messaging_product": "whatsapp",
    "calls": [{"id": "wacid.ABGGFjFVU2AfAgo6V"}],
}
CONNECT_RESPONSE_WITH_SUCCESS: Final[dict[str, Any]] = {**CONNECT_RESPONSE, "success": True}

PERMISSIONS: Final[dict[str, Any]] = {
    "messaging_product": "whatsapp",
    "permission": {"status": "temporary", "expiration_time": 1745343479},
    "actions": [
        {
            "action_name": "send_call_permission_request",
            "can_perform_action": True,
            "limits": [
                {"time_period": "PT24H", "max_allowed": 1, "current_usage": 0},
                {"time_period": "P7D", "max_allowed": 2, "current_usage": 1},
            ],
        },
        {
            "action_name": "start_call",
            "can_perform_action": False,
            "limits": [
                {
                    "time_period": "PT24H",
                    "max_allowed": 5,
                    "current_usage": 5,
                    "limit_expiration_time": 1745622600,
                }
            ],
        },
    ],
}

SETTINGS: Final[dict[str, Any]] = {
    "calling": {
        "status": "ENABLED",
        "call_icon_visibility": "DEFAULT",
        "callback_permission_status": "ENABLED",
        "call_hours": {
            "status": "ENABLED",
            "timezone_id": "America/Manaus",
            "weekly_operating_hours": [
                {"day_of_week": "MONDAY", "open_time": "0400", "close_time": "1020"}
            ],
            "holiday_schedule": [{"date": "2026-01-01", "start_time": "0000", "end_time": "2359"}],
        },
        "sip": {
            "status": "ENABLED",
            "servers": [{"hostname": "sip.example.com", "sip_user_password": SIP_PASSWORD}],
        },
        "audio": {"additional_codecs": ["PCMA", "PCMU"]},
        "voicemail": {
            "status": "ENABLED",
            "triggers": ["REJECT", "TIMEOUT"],
            "audio": {"default": {"announcement_media_id": 123, "timeout_seconds": 20}},
        },
        "restrictions": {
            "restrictions_list": [
                {
                    "type": "RESTRICTED_BUSINESS_INITIATED_CALLING",
                    "reason": "temporarily disabled due to high negative feedback",
                    "expiration": 1754072386,
                }
            ]
        },
    },
    "payload_encryption": {"status": "disabled"},
}

SETTINGS_UPDATE_BODY: Final[dict[str, Any]] = {
    "calling": {
        "status": "ENABLED",
        "call_icon_visibility": "DEFAULT",
        "call_icons": {"restrict_to_user_countries": ["US", "BR"]},
        "call_hours": {
            "status": "ENABLED",
            "timezone_id": "America/Manaus",
            "weekly_operating_hours": [
                {"day_of_week": "MONDAY", "open_time": "0400", "close_time": "1020"},
                {"day_of_week": "TUESDAY", "open_time": "0108", "close_time": "1020"},
            ],
            "holiday_schedule": [{"date": "2026-01-01", "start_time": "0000", "end_time": "2359"}],
        },
        "callback_permission_status": "ENABLED",
        "sip": {
            "status": "ENABLED",
            "servers": [
                {
                    "hostname": "sip.example.com",
                    "port": 5061,
                    "request_uri_user_params": {"KEY1": "VALUE1", "KEY2": "VALUE2"},
                }
            ],
        },
        "srtp_key_exchange_protocol": "DTLS",
        "audio": {"additional_codecs": ["PCMA", "PCMU"]},
        "voicemail": {
            "status": "ENABLED",
            "triggers": ["REJECT", "TIMEOUT"],
            "audio": {"default": {"announcement_media_id": 938884519013664, "timeout_seconds": 20}},
        },
    }
}


def meta_error(
    code: int,
    message: str = "(#138006) No approved call permission found",
    *,
    subcode: int | None = 2494055,
    details: str | None = "the details",
    trace_id: str = "Az8or2yhqkZfEZ-_4Qn_Bam",
) -> dict[str, Any]:
    """Meta's error envelope (reference §5.1)."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": trace_id,
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}
