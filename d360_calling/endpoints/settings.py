"""`GET`/`POST /calling/settings`: the number's calling configuration."""

from __future__ import annotations

from typing import Unpack

from .. import validation
from ..models.converter import converter
from ..models.settings import CallingSettings, PhoneNumberSettings, SettingsUpdateResult
from ._resource import CallOptions, Resource

PATH = "/calling/settings"


class Settings(Resource):
    """Read and change calling settings."""

    __slots__ = ()

    async def get(
        self, *, include_sip_credentials: bool = False, **options: Unpack[CallOptions]
    ) -> PhoneNumberSettings:
        """The settings; SIP passwords only when asked for (and masked in reprs)."""
        query = {"include_sip_credentials": "true"} if include_sip_credentials else None
        request = self._request("GET", PATH, "settings.get", options, query=query)
        return await self._call(request, PhoneNumberSettings)

    async def update(
        self, settings: CallingSettings, **options: Unpack[CallOptions]
    ) -> SettingsUpdateResult:
        """Change calling settings; `None` fields are left out. Note that `call_hours` is
        replaced whole, so omitting `holiday_schedule` there deletes it."""
        body = {"calling": converter.unstructure(validation.settings(settings))}
        request = self._request("POST", PATH, "settings.update", options, json=body)
        return await self._call(request, SettingsUpdateResult)
