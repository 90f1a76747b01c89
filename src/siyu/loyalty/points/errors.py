from siyu.core.errors import SiyuError


class InsufficientPoints(SiyuError):
    """A spend asked for more points than the member has available."""

    def __init__(self, customer_id: int, wanted: int, available: int):
        self.customer_id, self.wanted, self.available = customer_id, wanted, available
        super().__init__(f"customer #{customer_id} has {available} points available, {wanted} were asked for")


class InvalidPoints(SiyuError):
    """Points that make no sense for the operation (zero, negative spend, an unknown source)."""
