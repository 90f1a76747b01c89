"""Titles and definitions of the analytics pages, shown under every chart (translated: locale/zh_Hans).
The user guides repeat them; keep the three in step."""

from django.utils.translation import gettext_lazy as _

PAGE_TITLES = {
    "funnel": _("Funnel and user pool"),
    "gmv_tree": _("GMV tree"),
    "formula": _("Private-domain formula"),
    "cohorts": _("Cohorts and LTV"),
    "channel_roi": _("Channel ROI and CAC"),
    "traffic_map": _("Traffic map"),
    "sales_by_hour": _("Sales by hour"),
    "repurchase": _("Repurchase of a group"),
    "touch_grid": _("Touchpoints × lifecycle stages"),
}

COMMON = _(
    "A purchase is an order whose status counts as bought (closed, refunded and unpaid orders do not), of a "
    "customer identity resolution has unified. The channel is the import source; dates are local days "
    "(both ends included)."
)

DEFINITIONS = {
    "funnel": _(
        "Customers acquired in the range (their earliest record or order falls in it), by acquisition channel. "
        "Joined the private domain: has a WeCom contact record (added a staff account) or a member record "
        "before the range ends. Bought after joining: at least one purchase, in any channel, at or after "
        "joining. Repeat: of those, at least two purchases in all. Each stage is within the one before; "
        "purchases are counted up to the end of the range, so recent customers have had less time. The "
        "channel filter chooses acquisition channels; the store filter keeps customers with a record at "
        "one of the stores."
    ),
    "pool": _(
        "The user pool: the same four stages for every customer acquired before the range ends, whenever "
        "they were acquired."
    ),
    "funnel_codes": _(
        "Through live codes: customers first added through a live code in the range (someone added through "
        "two codes counts once, for the first), by the code's channel → still a contact 7 days after the "
        "add (not deleted by either side within 7 days) → first purchase, in any channel, within 30 days "
        "of the add → a second purchase after the add. Each stage is within the one before; everything is "
        "counted up to the end of the range, so recent adds have had less time. The channel and store "
        "filters keep customers as above."
    ),
    "gmv_tree": _(
        "GMV = customer base × conversion × purchase frequency × AOV. Customer base: customers with a record "
        "in the chosen channels and stores before the period ends. Buyers: customers with a purchase in the "
        "period. Conversion = buyers ÷ base; frequency = orders ÷ buyers; AOV = GMV ÷ orders. The range is "
        "compared with the period of the same length just before it."
    ),
    "gmv_contributions": _(
        "Which factor drove the change: LMDI decomposition. Each factor's contribution = L(GMV now, GMV "
        "before) × ln(factor now ÷ factor before), with L(a, b) = (a − b) ÷ (ln a − ln b); the "
        "contributions add up exactly to the change of GMV. Not computed when either period has no GMV."
    ),
    "formula": _(
        "留量 retained base: customers in the private domain (a WeCom contact or member record) before the "
        "range ends; contact deletions are not imported yet, so nobody leaves it. 裂变率 referral rate: not "
        "available, no referral data is collected yet. 转化率 conversion: retained customers who bought in "
        "the range ÷ retained base. 客单价 AOV: their GMV ÷ their orders. 复购率 repurchase rate: of those "
        "buyers, the share with two or more purchases in the range. Channel filter: which channels' "
        "purchases count; store filter: only joins recorded at those stores. Previous: the period of the "
        "same length before."
    ),
    "cohorts": _(
        "Customers grouped by the month of their first purchase in the chosen channels and stores (months "
        "inside the range). Month 0 is that month; retention in month n = cohort customers with a purchase "
        "in month n ÷ cohort size (month 0 is 100% by definition). Months after the range's end are "
        "empty."
    ),
    "cohorts_by_channel": _(
        "The same customers grouped by acquisition channel instead (the channel of their earliest record "
        "or order), months counted from each customer's first purchase month; later months also count "
        "customers who could not be seen that long yet."
    ),
    "ltv": _(
        "LTV curve: cumulative GMV of the cohort's purchases (chosen channels and stores) from month 0 "
        "through month n, divided by the cohort size, in yuan; revenue, not margin."
    ),
    "channel_roi_codes": _(
        "Live codes: people first added through a live code in the range (someone added through two codes "
        "counts once, for the first), by the code's channel and by campaign, counted up to the range's end. "
        "Still a contact at 7 (30) days: added at least 7 (30) days before the range ends and not deleted "
        "(by either side) within 7 (30) days; retention is their share of those added that long ago. "
        "Bought within 90 days: a first purchase within 90 days of the add; GMV: their purchases within 90 "
        "days of the add. Cost: the costs entered on the codes, only when every code of the row has one; "
        "cost per retained customer = cost ÷ people still a contact; cost per buyer = cost ÷ buyers within "
        "90 days; ROI = GMV within 90 days ÷ cost. The channel and store filters do not apply to these "
        "tables."
    ),
    "channel_roi": _(
        "Spend: the channel's spend entered or imported below; a spend row counts in proportion to the days "
        "of it inside the range. Acquired: customers whose acquisition channel it is and whose earliest "
        "record or order falls in the range. GMV: all their purchases, in any channel, up to the range's "
        "end. CAC = spend ÷ acquired; ROI = GMV ÷ spend; payback month: the first month after acquisition "
        "(0 = the month they were acquired) by which their cumulative GMV reaches the spend, on revenue, "
        "not margin. ROI below 1 is marked: that channel's money did not come back."
    ),
    "traffic_map": _(
        "Customers acquired in the range, from their acquisition channel (public: platform shops Taobao/"
        "Tmall, JD, Douyin; private: the brand's own WeCom, store and mini-program shop) into the private "
        "pools they joined before the range ends (WeCom contact, member, both, or not joined); WeCom "
        "contacts first added through a live code pass through the code's channel; then whether they "
        "bought after joining. A WeCom contact whose latest contact change before the range ends is that "
        "they deleted or blocked the staff member ends in “deleted the staff member”, whether they bought "
        "or not. Widths are customers."
    ),
    "sales_by_hour": _(
        "Purchases in the range by local weekday and hour of the order time (chosen channels and stores). "
        "Closed hours: outside the store hours given above (whole hours, opening hour included, closing "
        "hour not); the share is of the channel's orders and GMV."
    ),
    "repurchase": _(
        "Repurchase rate = buyers with two or more purchases in the range ÷ buyers in the range (chosen "
        "channels and stores). Group: the customers of the uploaded list, tag or segment (its members at "
        "its last refresh) who bought in the range; base: every buyer; rest: base without the group. Lift "
        "= group rate − base rate, in percentage points; p-value: two-sided two-proportion z-test of group "
        "against rest (below 0.05: unlikely to be chance)."
    ),
    "touch_grid": _(
        "Customers reached in the range, from the recorded touches (every sent message, every contact a "
        "guide recorded on a task, and every message a staff member wrote to the customer in a 1-on-1 WeCom "
        "chat, from the imported chat archive), by touchpoint (WeCom, WeCom chat 1-on-1, SMS, email, "
        "webhook, guide 1-on-1) and the "
        "customer's lifecycle stage in the current traits snapshot (unknown: traits not computed for the "
        "customer). A cell counts distinct customers; a red cell is a combination nobody was reached "
        "through. Channel and store filters keep customers with a record from those channels or stores."
    ),
    "touch_grid_operations": _(
        "The same customers by operation: each journey (SOP), campaign, guide-task batch and manual send "
        "with touches in the range, and a row for each kind of operation that reached nobody."
    ),
}
