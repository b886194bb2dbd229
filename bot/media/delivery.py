"""The delivery decision, in one place: what is uploaded, and where the original can be had.

- The video fits the reply's upload limit: upload the original.
- It does not, and the bot's web server is public: upload a fitted copy and link the original.
- It does not, and there is no web server: upload a fitted copy and say where the original is
  kept (on the bot's host, for the operator: `video-bot jobs`).
- Discord refuses an upload as too large anyway (its real limit is lower than announced): fit
  smaller and try again, a bounded number of times. Never a silent loss.

A front end carries the plan out; nothing here knows about Discord.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.domain import Original

# Smaller fits tried after the chat service refused an upload as too large.
REFITS = 2
# Each refit aims this much below what was refused.
REFIT_FACTOR = 0.7


@dataclass(frozen=True)
class DeliveryPlan:
    """What to upload (the original when `fit_to` is None, else a copy fitted to `fit_to`
    bytes) and what to say about the original."""

    original_size: int
    upload_limit: int
    fit_to: int | None
    original: Original | None = None
    refits_left: int = REFITS

    @property
    def fitted(self) -> bool:
        return self.fit_to is not None

    @property
    def link(self) -> str | None:
        """The original's link, shown whenever the web server is public (fitted or not)."""
        return self.original.link if self.original is not None else None

    @property
    def say_where_kept(self) -> bool:
        """A fitted copy without a link: the member learns the original is kept, and where."""
        return self.fitted and self.original is not None and self.original.link is None

    def after_refusal(self, refused_size: int) -> DeliveryPlan | None:
        """The next plan once an upload of `refused_size` bytes was refused as too large."""
        if self.refits_left <= 0:
            return None
        aim = int(min(refused_size, self.fit_to or self.upload_limit) * REFIT_FACTOR)
        if aim <= 0:
            return None
        return replace(self, fit_to=aim, refits_left=self.refits_left - 1)


def plan_delivery(size: int, upload_limit: int, original: Original | None = None) -> DeliveryPlan:
    """Upload the original when it fits, else a copy fitted to the limit."""
    fit_to = None if size <= upload_limit else upload_limit
    return DeliveryPlan(size, upload_limit, fit_to, original)
