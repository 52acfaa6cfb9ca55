"""Models of `GET`/`POST /calling/settings`: the whole calling settings tree."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

from .calls import FeatureStatus
from .checks import checked
from .enums import OpenEnum


class CallIconVisibility(OpenEnum):
    """Whether WhatsApp shows the call icon in the chat with the business."""

    DEFAULT = "DEFAULT"
    DISABLE_ALL = "DISABLE_ALL"


class Weekday(OpenEnum):
    """A day of the week, as call hours spell it."""

    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class SrtpKeyExchangeProtocol(OpenEnum):
    """How media keys are exchanged: DTLS (default) or SDES."""

    DTLS = "DTLS"
    SDES = "SDES"


class AudioCodec(OpenEnum):
    """Extra G.711 codecs beside Opus, which is always on."""

    PCMA = "PCMA"
    PCMU = "PCMU"


class VoicemailTrigger(OpenEnum):
    """What sends a caller to voicemail."""

    REJECT = "REJECT"
    TIMEOUT = "TIMEOUT"


class RestrictionType(OpenEnum):
    """Calling restrictions Meta applies after low quality."""

    RESTRICTED_BUSINESS_INITIATED_CALLING = "RESTRICTED_BUSINESS_INITIATED_CALLING"
    RESTRICTED_USER_INITIATED_CALLING = "RESTRICTED_USER_INITIATED_CALLING"


@attrs.frozen(field_transformer=checked)
class OperatingHours:
    """Opening hours on one weekday; times are `HHMM` strings, open before close."""

    day_of_week: Weekday = attrs.field(converter=Weekday)
    open_time: str
    close_time: str


@attrs.frozen(field_transformer=checked)
class HolidaySchedule:
    """A closed (or shortened) day: a date and `HHMM` start and end times."""

    date: date
    start_time: str
    end_time: str


@attrs.frozen(field_transformer=checked)
class CallHours:
    """When users can call; the whole object is replaced on every update."""

    status: FeatureStatus = attrs.field(converter=FeatureStatus)
    timezone_id: str | None = None
    weekly_operating_hours: tuple[OperatingHours, ...] | None = None
    holiday_schedule: tuple[HolidaySchedule, ...] | None = None


@attrs.frozen(field_transformer=checked)
class CallIcons:
    """Show the call icon only to users of these countries (ISO codes; empty: everyone)."""

    restrict_to_user_countries: tuple[str, ...] = ()


def _mask(secret: str | None) -> str:
    return "None" if secret is None else "'***'"


@attrs.frozen(field_transformer=checked)
class SipServer:
    """A SIP server for this app; the password comes only with `include_sip_credentials`."""

    hostname: str
    port: int | None = None
    request_uri_user_params: dict[str, str] | None = None
    sip_user_password: str | None = attrs.field(default=None, repr=_mask)
    app_id: str | None = None


@attrs.frozen(field_transformer=checked)
class SipSettings:
    """SIP signalling instead of the Graph calls API."""

    status: FeatureStatus = attrs.field(converter=FeatureStatus)
    servers: tuple[SipServer, ...] | None = None
    webhook_delivery: FeatureStatus | None = attrs.field(
        default=None, converter=attrs.converters.optional(FeatureStatus)
    )


@attrs.frozen(field_transformer=checked)
class AudioSettings:
    """Codecs offered beside Opus."""

    additional_codecs: tuple[AudioCodec, ...] = ()


@attrs.frozen(field_transformer=checked)
class VoicemailAnnouncement:
    """The voicemail greeting (an uploaded media id) and how long to ring first (0-30 s)."""

    announcement_media_id: int | None = None
    timeout_seconds: int | None = None


@attrs.frozen(field_transformer=checked)
class VoicemailAudio:
    """Voicemail audio settings; only `default` exists today."""

    default: VoicemailAnnouncement | None = None


@attrs.frozen(field_transformer=checked)
class VoicemailSettings:
    """Voicemail on reject or timeout."""

    status: FeatureStatus = attrs.field(converter=FeatureStatus)
    triggers: tuple[VoicemailTrigger, ...] | None = None
    audio: VoicemailAudio | None = None


@attrs.frozen(field_transformer=checked)
class Restriction:
    """A restriction on calling, with its reason and end."""

    type: RestrictionType = attrs.field(converter=RestrictionType)
    reason: str | None = None
    expiration: datetime | None = None


@attrs.frozen(field_transformer=checked)
class Restrictions:
    """The restrictions in force (read only; the API sets them)."""

    restrictions_list: tuple[Restriction, ...] = ()


@attrs.frozen(field_transformer=checked)
class CallingSettings:
    """The `calling` settings of the number; every field optional, `None` fields not sent."""

    status: FeatureStatus | None = attrs.field(
        default=None, converter=attrs.converters.optional(FeatureStatus)
    )
    call_icon_visibility: CallIconVisibility | None = attrs.field(
        default=None, converter=attrs.converters.optional(CallIconVisibility)
    )
    call_icons: CallIcons | None = None
    call_hours: CallHours | None = None
    callback_permission_status: FeatureStatus | None = attrs.field(
        default=None, converter=attrs.converters.optional(FeatureStatus)
    )
    sip: SipSettings | None = None
    srtp_key_exchange_protocol: SrtpKeyExchangeProtocol | None = attrs.field(
        default=None, converter=attrs.converters.optional(SrtpKeyExchangeProtocol)
    )
    audio: AudioSettings | None = None
    voicemail: VoicemailSettings | None = None
    restrictions: Restrictions | None = None


@attrs.frozen(field_transformer=checked)
class PhoneNumberSettings:
    """What `GET /calling/settings` returns: calling plus the number's other settings."""

    calling: CallingSettings
    payload_encryption: dict[str, Any] | None = None
    storage_configuration: dict[str, Any] | None = None
    user_identity_change: dict[str, Any] | None = None


@attrs.frozen(field_transformer=checked)
class SettingsUpdateResult:
    """The answer to `POST /calling/settings`."""

    success: bool
