from siyu.core.errors import SiyuError


class AnalyticsError(SiyuError):
    """An analytics request that cannot be answered as asked (bad filter, bad spend row, bad id list)."""


class InvalidFilters(AnalyticsError):
    pass


class InvalidSpend(AnalyticsError):
    pass


class InvalidCustomerList(AnalyticsError):
    pass
