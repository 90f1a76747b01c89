"""The words operators read about check-in: a rule's reward, the streak buckets. English msgids, Chinese in
loyalty's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext as _


def streak_bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return _("%(low)s days or more") % {"low": low}
    if low == high:
        return _("%(low)s day") % {"low": low} if low == 1 else _("%(low)s days") % {"low": low}
    return _("%(low)s–%(high)s days") % {"low": low, "high": high}
