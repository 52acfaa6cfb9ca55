"""`GET /calling/permissions/{wa_id}`: may the business call this user, and when next."""

from __future__ import annotations

from typing import Unpack

from .. import validation
from ..models.permissions import CallPermissions
from ._resource import CallOptions, Resource


class Permissions(Resource):
    """Call permissions of users."""

    __slots__ = ()

    async def get(self, wa_id: str, **options: Unpack[CallOptions]) -> CallPermissions:
        """The user's permission, the actions allowed now and their limits."""
        user = validation.wa_id(wa_id)
        request = self._request("GET", f"/calling/permissions/{user}", "permissions.get", options)
        return await self._call(request, CallPermissions)
