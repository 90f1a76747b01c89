"""Errors of the rewards mall (English messages; pages and the member centre show their own words)."""

from siyu.core.errors import NotFound, SiyuError


class MallError(SiyuError):
    """A redemption or an item change that cannot be done (a 400)."""


class OutOfStock(MallError):
    """Fewer items left than asked for."""


class LimitReached(MallError):
    """The member has redeemed as many of this item as one member may."""


class NotOnSale(MallError):
    """The item is a draft, off sale, or outside its time window."""


class AddressRequired(MallError):
    """A physical gift needs the shipping address the member entered."""


class InvalidItem(MallError):
    """An item that cannot be saved as given."""


class RedemptionRefused(MallError):
    """A redemption that cannot be shipped, collected or cancelled in its state."""


class KeyReused(MallError):
    """The idempotency key already belongs to another member's or another item's redemption."""


class ItemNotFound(MallError, NotFound):
    """No such item or redemption (a 404)."""
