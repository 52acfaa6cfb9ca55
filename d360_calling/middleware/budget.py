"""A retry budget shared by every call on a client, so an outage does not become a storm.

gRPC's retry throttling: each failed attempt takes a token, each success gives back a fraction,
and retries are allowed only while more than half of the tokens are left.
"""

from __future__ import annotations

import attrs


@attrs.define
class RetryBudget:
    """Token bucket of retry permission: `max_tokens` deep, `token_ratio` back per success."""

    max_tokens: float = 10.0
    token_ratio: float = 0.1
    tokens: float = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = self.max_tokens

    def record_success(self) -> None:
        """An attempt succeeded: earn back a fraction of a token."""
        if self.tokens < self.max_tokens:
            self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def record_failure(self) -> None:
        """An attempt failed with a transient error: spend a token."""
        self.tokens = max(0.0, self.tokens - 1.0)

    @property
    def allows_retry(self) -> bool:
        """Whether recent attempts succeed often enough to try again."""
        return self.tokens > self.max_tokens / 2
