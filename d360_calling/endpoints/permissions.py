"""`GET /calling/permissions/{wa_id}`: may the business call this user, and when next."""

from __future__ import annotations

from .. import validation
from ..models.permissions import CallPermissions
from ..session import Request
from ._resource import Resource, TimeoutArg


class Permissions(Resource):
    """Call permissions of users."""

    __slots__ = ()

    async def get(self, wa_id: str, *, timeout: TimeoutArg = None) -> CallPermissions:
        """The user's permission, the actions allowed now and their limits."""
        user = validation.wa_id(wa_id)
        request = Request(
            "GET",
            f"/calling/permissions/{user}",
            "permissions.get",
            timeout=self._timeout(timeout),
        )
        return await self._call(request, CallPermissions)
