from siyu.core.errors import SiyuError


class CommunityError(SiyuError):
    """A group, group code, archive import or handover cannot be done as asked (the message says why)."""
