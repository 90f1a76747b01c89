from siyu.community.errors import CommunityError
from siyu.core.errors import NotFound


class HandoverError(CommunityError):
    """A handover that cannot be started or checked as asked (the message says why)."""


class HandoverNotFound(HandoverError, NotFound):
    pass
