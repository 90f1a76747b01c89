from siyu.core.errors import NotFound, SiyuError


class CustomerError(SiyuError):
    """A customer-side request that cannot be carried out as asked (bad tag name, unknown channel…)."""


class CustomerNotFound(CustomerError, NotFound):
    def __init__(self, customer_ids, merged_into: int | None = None):
        ids = [customer_ids] if isinstance(customer_ids, int) else sorted(customer_ids)
        self.customer_ids = ids
        self.customer_id = ids[0] if len(ids) == 1 else None
        self.merged_into = merged_into
        shown = ", ".join(str(i) for i in ids[:10]) + (" …" if len(ids) > 10 else "")
        message = f"no customer {shown}" if len(ids) == 1 else f"no customers {shown}"
        if merged_into is not None:
            message += f" (merged into customer {merged_into})"
        super().__init__(message)
