from siyu.core.errors import SiyuError


class IdentityError(SiyuError):
    """A merge, split or review decision that cannot be made (unknown record, same record twice…)."""
