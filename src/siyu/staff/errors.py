from siyu.core.errors import SiyuError


class StaffError(SiyuError):
    pass
