"""`GET`/`POST /calling/settings`: the number's calling configuration."""

from __future__ import annotations

from .. import validation
from ..models.converter import converter
from ..models.settings import CallingSettings, PhoneNumberSettings, SettingsUpdateResult
from ..session import Request
from ._resource import Resource, TimeoutArg

PATH = "/calling/settings"


class Settings(Resource):
    """Read and change calling settings."""

    __slots__ = ()

    async def get(
        self, *, include_sip_credentials: bool = False, timeout: TimeoutArg = None
    ) -> PhoneNumberSettings:
        """The settings; SIP passwords only when asked for (and masked in reprs)."""
        query = {"include_sip_credentials": "true"} if include_sip_credentials else None
        request = Request("GET", PATH, "settings.get", query=query, timeout=self._timeout(timeout))
        return await self._call(request, PhoneNumberSettings)

    async def update(
        self, settings: CallingSettings, *, timeout: TimeoutArg = None
    ) -> SettingsUpdateResult:
        """Change calling settings; `None` fields are left out. Note that `call_hours` is
        replaced whole, so omitting `holiday_schedule` there deletes it."""
        body = {"calling": converter.unstructure(validation.settings(settings))}
        request = Request(
            "POST", PATH, "settings.update", json=body, timeout=self._timeout(timeout)
        )
        return await self._call(request, SettingsUpdateResult)
