"""Errors of customer groups."""

from siyu.community.errors import CommunityError
from siyu.core.errors import NotFound


class GroupNotFound(CommunityError, NotFound):
    """No such customer group, group code or welcome message (a 404)."""
