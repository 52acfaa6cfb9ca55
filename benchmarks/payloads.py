"""Canned request and response bodies, shaped as the API reference documents them.

The server, the micro-benchmarks and every client scenario share these, so each side of a
comparison sends and parses the same bytes.
"""

from __future__ import annotations

import json
from typing import Any, Final

from d360_calling.sandbox.sdp import ANSWER_SDP

API_KEY: Final = "bench-key"
PHONE_ID: Final = "100000000000001"
"""The phone-number id pywa puts in its Graph-style paths."""
GRAPH_VERSION: Final = "23.0"
WA_ID: Final = "14155550123"
CALL_ID: Final = "wacid.HBgLMTQxNTU1NTAxMjMVAgARGCBBQjEyMzQ1Njc4OTBBQkNERUYxMjM0NTY3ODkwQUIA"
SDP: Final = ANSWER_SDP

ACCEPT_BODY: Final[dict[str, Any]] = {
    "messaging_product": "whatsapp",
    "call_id": CALL_ID,
    "action": "accept",
    "session": {"sdp_type": "answer", "sdp": SDP},
}
"""What every client sends for `calls.accept`."""

ACTION_RESULT: Final[dict[str, Any]] = {"messaging_product": "whatsapp", "success": True}

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
"""The permissions sample of the API reference (section 1.2)."""

SETTINGS: Final[dict[str, Any]] = {
    "calling": {
        "status": "ENABLED",
        "call_icon_visibility": "DEFAULT",
        "call_icons": {"restrict_to_user_countries": ["US", "BR"]},
        "callback_permission_status": "ENABLED",
        "call_hours": {
            "status": "ENABLED",
            "timezone_id": "America/Manaus",
            "weekly_operating_hours": [
                {"day_of_week": "MONDAY", "open_time": "0400", "close_time": "1020"},
                {"day_of_week": "TUESDAY", "open_time": "0108", "close_time": "1020"},
            ],
            "holiday_schedule": [{"date": "2026-01-01", "start_time": "0000", "end_time": "2359"}],
        },
        "sip": {
            "status": "ENABLED",
            "servers": [
                {
                    "hostname": "sip.example.com",
                    "port": 5061,
                    "request_uri_user_params": {"KEY1": "VALUE1"},
                    "sip_user_password": "s3cret",
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
    "storage_configuration": {"status": "default"},
}
"""A full settings response (API reference, section 3), SIP credentials included."""


def encode(payload: Any) -> bytes:
    """Compact JSON bytes, as the server sends them."""
    return json.dumps(payload, separators=(",", ":")).encode()
