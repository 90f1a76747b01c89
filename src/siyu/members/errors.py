"""Why a sign-in was refused. `reason` is a code; siyu.members.labels gives the words a customer reads."""

from __future__ import annotations


class SignInRefused(Exception):
    def __init__(self, reason: str, detail: str = "", **values):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.values = values
