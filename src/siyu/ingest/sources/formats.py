from __future__ import annotations

from dataclasses import dataclass, field

from siyu.ingest.errors import UnrecognisedFile
from siyu.warehouse.orders import NOT_PURCHASE, PENDING, PURCHASE

# Fields a column can be mapped to (DESIGN.md §4); `id:<type>` is any identifier.
FIELDS = (
    "record_id", "name", "first_name", "last_name", "phone", "email", "gender", "birthday", "province", "city",
    "district", "street", "address", "postcode", "order_id", "item_id", "order_time", "paid_time", "amount",
    "item_amount", "product", "product_id", "sku", "quantity", "store", "status", "tags", "owner_staff",
    "created_at", "nickname", "coupon_code",
)  # fmt: skip

# What kind of value each person field holds: the probabilistic stage compares a generic field the way
# Splink's comparison library compares its kind (siyu.identity.generic_fields). Fields not listed (orders,
# amounts, staff) are not compared. Every `id:<type>` is of kind "id".
FIELD_KINDS = {
    "name": "name", "first_name": "name", "last_name": "name", "nickname": "name",
    "birthday": "date",
    "address": "address", "street": "address",
    "postcode": "postcode",
    "city": "place", "province": "place", "district": "place",
    "phone": "phone", "email": "email", "gender": "category",
}  # fmt: skip
ID_FIELD_PREFIX = "id:"
# Fields several columns may be mapped to: their cells are joined with a space in the order of --map
# (a house number, a street name and a unit are one address).
JOINED_FIELDS = ("address", "street")


def field_kind(target: str) -> str | None:
    """The kind of a `--map` target: "id" for `id:<type>`, else FIELD_KINDS' (None: not a person field)."""
    if target.startswith(ID_FIELD_PREFIX) and len(target) > len(ID_FIELD_PREFIX):
        return "id"
    return FIELD_KINDS.get(target)


# Order statuses that count as a purchase / as not a purchase; anything else is pending.
PURCHASE_STATUSES = {
    "交易成功", "已完成", "完成", "已签收", "已收货", "卖家已发货，等待买家确认", "等待买家确认收货", "已发货",
    "买家已付款，等待卖家发货", "等待卖家发货", "等待出库", "待发货", "已支付", "已付款", "待收货", "成功",
    "交易完成", "paid", "completed", "success", "正常",
}  # fmt: skip
NOT_PURCHASE_STATUSES = {
    "交易关闭", "已关闭", "退款成功", "已取消", "取消", "订单取消", "已退款", "全额退款", "锁定", "删除",
    "closed", "cancelled", "refunded", "退货",
}  # fmt: skip


def status_class(status: str | None) -> str:
    if status is None:
        return PURCHASE  # POS sales and generic orders without a status are completed sales
    if status in PURCHASE_STATUSES:
        return PURCHASE
    if status in NOT_PURCHASE_STATUSES or "关闭" in status or "取消" in status or "退款成功" in status:
        return NOT_PURCHASE
    return PENDING


@dataclass(frozen=True)
class SourceFormat:
    name: str
    record_kind: str  # order | contact | member | sale | generic
    record_field: str  # which mapped field is the record id
    # field -> header aliases, first match wins
    columns: dict[str, tuple[str, ...]]
    # headers whose presence identifies the format: all of `signature`, and one of `signature_any` if given
    signature: tuple[str, ...] = ()
    signature_any: tuple[str, ...] = ()
    # id_type -> header aliases of strong identifiers
    identifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # amount is given per order on every line (JD) rather than per line (Douyin)
    amount_per_order: bool = True
    # item_amount is a unit price (JD 京东价), multiplied by the quantity into the line amount
    item_amount_per_unit: bool = False
    event_type: str | None = None  # an event per record (e.g. WeCom contact added), timed by created_at
    # identifier types mapped with --map id:<type>: their values are also kept (encrypted) with the record,
    # so that the probabilistic stage can compare them with one edit allowed (`siyu resolve --compare id:…`)
    kept_ids: tuple[str, ...] = ()
    # field -> headers whose cell stands in, row by row, where the mapped column's cell is empty
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)


FORMATS: dict[str, SourceFormat] = {
    "taobao": SourceFormat(
        name="taobao",
        record_kind="order",
        record_field="order_id",
        signature=("订单编号", "买家会员名"),
        columns={
            "order_id": ("订单编号",),
            "name": ("收货人姓名", "收货人"),
            "phone": ("联系手机", "联系电话"),
            "address": ("收货地址", "修改后的收货地址"),
            "amount": ("买家实际支付金额", "支付金额", "总金额"),
            "status": ("订单状态",),
            "order_time": ("订单创建时间",),
            "paid_time": ("订单付款时间",),
            "product": ("宝贝标题",),
            "quantity": ("宝贝总数量",),
            "store": ("店铺名称",),
        },
        identifiers={"taobao_buyer": ("买家会员名",), "alipay": ("买家支付宝账号",)},
    ),
    "jd": SourceFormat(
        name="jd",
        record_kind="order",
        record_field="order_id",
        signature=("订单号", "下单帐号"),
        item_amount_per_unit=True,
        columns={
            "order_id": ("订单号",),
            "product_id": ("商品ID",),
            "product": ("商品名称",),
            "quantity": ("订购数量",),
            "order_time": ("下单时间",),
            "paid_time": ("付款确认时间",),
            "amount": ("应付金额", "订单金额", "结算金额"),
            "item_amount": ("京东价",),
            "status": ("订单状态",),
            "name": ("客户姓名",),
            "address": ("客户地址",),
            "phone": ("联系电话",),
            "sku": ("货号",),
        },
        identifiers={"jd_account": ("下单帐号",)},
    ),
    "douyin": SourceFormat(
        name="douyin",
        record_kind="order",
        record_field="order_id",
        signature=("主订单编号", "子订单编号"),
        amount_per_order=False,
        columns={
            "order_id": ("主订单编号",),
            "item_id": ("子订单编号",),
            "product": ("选购商品",),
            "sku": ("商品规格",),
            "quantity": ("商品数量",),
            "product_id": ("商品ID",),
            "amount": ("订单应付金额",),
            "item_amount": ("商品金额",),
            "name": ("收件人",),
            "phone": ("收件人手机号",),
            "province": ("省",),
            "city": ("市",),
            "district": ("区",),
            "street": ("街道",),
            "address": ("详细地址",),
            "order_time": ("订单提交时间",),
            "status": ("订单状态",),
        },
    ),
    "youzan": SourceFormat(
        name="youzan",
        record_kind="order",
        record_field="order_id",
        # a seller ticks the columns to export: any one Youzan-only header will do
        signature=("订单号",),
        signature_any=(
            "归属店铺", "详细收货地址/提货地址", "收货人/提货人", "收货人手机号/提货人手机号", "买家是否会员",
            "订单实付金额", "全部商品名称", "商品种类数", "下单网点",
        ),
        columns={
            "order_id": ("订单号",),
            "store": ("归属店铺", "下单网点"),
            "status": ("订单状态",),
            "order_time": ("订单创建时间",),
            "paid_time": ("买家付款时间",),
            "amount": ("订单实付金额", "应收订单金额", "订单实收金额"),
            "product": ("全部商品名称",),
            "province": ("收货人省份",),
            "city": ("收货人城市",),
            "district": ("收货人地区",),
            "address": ("详细收货地址/提货地址",),
            "name": ("收货人/提货人",),
            "phone": ("买家手机号", "收货人手机号/提货人手机号"),
            "owner_staff": ("专属导购", "销售导购"),
            "nickname": ("买家昵称",),
            # the coupon or discount code the buyer used (siyu.loyalty.coupons matches Siyu's codes)
            "coupon_code": ("优惠券码", "优惠码", "优惠券码名称"),
        },
        # a buyer who is not a member leaves 买家手机号 empty; the consignee's phone is on every order
        fallbacks={"phone": ("收货人手机号/提货人手机号",)},
        # the member's own phone is a strong id even when the consignee phone differs
        identifiers={"phone": ("买家手机号",)},
    ),
    "wecom": SourceFormat(
        name="wecom",
        record_kind="contact",
        record_field="record_id",
        signature=("external_userid",),
        event_type="wecom_contact_added",
        columns={
            "record_id": ("external_userid",),
            "name": ("客户备注", "备注名", "客户名称"),
            "nickname": ("客户名称",),
            "gender": ("性别",),
            "owner_staff": ("添加人账号", "添加人"),
            "created_at": ("添加时间",),
            "tags": ("企业标签", "标签"),
            "phone": ("备注手机号",),
            "store": ("备注企业",),
        },
        identifiers={"external_userid": ("external_userid",), "unionid": ("unionid",)},
    ),
    "pos_members": SourceFormat(
        name="pos",
        record_kind="member",
        record_field="record_id",
        signature=("会员卡号", "会员姓名"),
        event_type="member_registered",
        columns={
            "record_id": ("会员卡号",),
            "name": ("会员姓名",),
            "phone": ("手机号",),
            "gender": ("性别",),
            "birthday": ("生日",),
            "email": ("邮箱",),
            "province": ("省",),
            "city": ("市",),
            "district": ("区",),
            "address": ("地址",),
            "store": ("注册门店",),
            "created_at": ("注册时间",),
            "owner_staff": ("专属导购",),
        },
        identifiers={"member_no": ("会员卡号",)},
    ),
    "pos_sales": SourceFormat(
        name="pos",
        record_kind="sale",
        record_field="order_id",
        signature=("单号", "会员卡号"),
        amount_per_order=False,
        columns={
            "order_id": ("单号",),
            "store": ("门店",),
            "order_time": ("销售时间",),
            "product_id": ("商品编码",),
            "product": ("商品名称",),
            "quantity": ("数量",),
            "amount": ("金额",),
            "item_amount": ("金额",),
            "owner_staff": ("导购",),
            "status": ("单据状态",),
        },
        identifiers={"member_no": ("会员卡号",)},
    ),
}

# What the user types after --format; `pos` picks members or sales by the headers.
FORMAT_CHOICES = ("auto", "taobao", "jd", "douyin", "youzan", "wecom", "pos", "generic")


def detect_format(columns: list[str], requested: str = "auto") -> SourceFormat:
    present = set(columns)
    if requested == "pos":
        candidates = [FORMATS["pos_sales"], FORMATS["pos_members"]]
    elif requested == "auto":
        candidates = list(FORMATS.values())
    elif requested in FORMATS:
        candidates = [FORMATS[requested]]
    else:
        raise UnrecognisedFile(f"unknown format {requested!r}; choose one of {', '.join(FORMAT_CHOICES)}")
    for fmt in candidates:
        if all(h in present for h in fmt.signature) and (
            not fmt.signature_any or any(h in present for h in fmt.signature_any)
        ):
            return fmt
    if requested == "auto":
        raise UnrecognisedFile(
            "the headers match no known platform export (taobao, jd, douyin, youzan, wecom, pos); "
            "use --format generic with --map COLUMN=FIELD"
        )
    missing = [h for h in candidates[0].signature if h not in present]
    if not missing:
        missing = [" or ".join(candidates[0].signature_any)]
    raise UnrecognisedFile(f"this is not a {requested} export: missing column(s) {', '.join(missing)}")


def map_columns(fmt: SourceFormat, columns: list[str]) -> dict[str, str]:
    """field -> the header that carries it in this file."""
    present = set(columns)
    mapped = {}
    for field_name, aliases in fmt.columns.items():
        for alias in aliases:
            if alias in present:
                mapped[field_name] = alias
                break
    return mapped


def generic_format(
    mapping: dict[str, str], columns: list[str]
) -> tuple[SourceFormat, dict[str, str | tuple[str, ...]]]:
    """A format from `--map COLUMN=FIELD` pairs; returns it and field -> header (headers, in order, for a
    field of JOINED_FIELDS several columns are mapped to)."""
    missing = [c for c in mapping if c not in columns]
    if missing:
        raise UnrecognisedFile(f"--map names column(s) not in the file: {', '.join(missing)}")
    fields: dict[str, str | tuple[str, ...]] = {}
    identifiers: dict[str, tuple[str, ...]] = {}
    for column, target in mapping.items():
        if field_kind(target) == "id":
            identifiers[target[len(ID_FIELD_PREFIX) :]] = (column,)
        elif target in fields and target in JOINED_FIELDS:
            earlier = fields[target]
            fields[target] = (*((earlier,) if isinstance(earlier, str) else earlier), column)
        elif target in fields:
            raise UnrecognisedFile(
                f"--map {fields[target]}={target} and {column}={target}: only {', '.join(JOINED_FIELDS)} "
                "can take several columns"
            )
        elif target in FIELDS:
            fields[target] = column
        else:
            raise UnrecognisedFile(
                f"--map {column}={target}: unknown field; use one of {', '.join(FIELDS)} or id:<type>"
            )
    if not fields and not identifiers:
        raise UnrecognisedFile("--format generic needs --map COLUMN=FIELD for at least one column")
    kind = "order" if "order_id" in fields and "record_id" not in fields else "generic"
    fmt = SourceFormat(
        name="generic",
        record_kind=kind,
        record_field="order_id" if kind == "order" else "record_id",
        columns={f: (c,) for f, c in fields.items()},
        identifiers=identifiers,
        amount_per_order=False,
        kept_ids=tuple(identifiers),
    )
    return fmt, fields
