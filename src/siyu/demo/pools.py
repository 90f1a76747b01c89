"""Value pools for the demo brand: geography, stores, products, names and nicknames.

Everything here is built once per generation; per-person values are then drawn by index with numpy, so
Faker is only used to fill pools (never once per person).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker
from faker.providers.person.zh_CN import Provider as ZhPerson

BRAND = "澜点"
TMALL_SHOP_NAME = f"{BRAND}官方旗舰店"
TMALL_SHOP_ID = "571629384"
YOUZAN_SHOP_NAME = f"{BRAND}官方微商城"

# (province, city, weight, area code, postcode, districts)
CITIES: list[tuple[str, str, float, str, str, tuple[str, ...]]] = [
    ("北京市", "北京市", 8.0, "010", "100000", ("朝阳区", "海淀区", "东城区", "西城区", "丰台区")),
    ("上海市", "上海市", 8.5, "021", "200000", ("浦东新区", "徐汇区", "静安区", "黄浦区", "闵行区")),
    ("广东省", "广州市", 6.5, "020", "510000", ("天河区", "越秀区", "海珠区", "番禺区", "白云区")),
    ("广东省", "深圳市", 6.5, "0755", "518000", ("南山区", "福田区", "罗湖区", "宝安区", "龙岗区")),
    ("广东省", "佛山市", 2.2, "0757", "528000", ("禅城区", "南海区", "顺德区")),
    ("浙江省", "杭州市", 5.0, "0571", "310000", ("西湖区", "上城区", "拱墅区", "滨江区", "余杭区")),
    ("浙江省", "宁波市", 2.2, "0574", "315000", ("海曙区", "鄞州区", "江北区")),
    ("江苏省", "南京市", 3.6, "025", "210000", ("鼓楼区", "玄武区", "秦淮区", "建邺区")),
    ("江苏省", "苏州市", 3.4, "0512", "215000", ("姑苏区", "吴中区", "虎丘区", "相城区")),
    ("江苏省", "无锡市", 1.8, "0510", "214000", ("梁溪区", "滨湖区", "新吴区")),
    ("四川省", "成都市", 5.0, "028", "610000", ("锦江区", "青羊区", "武侯区", "成华区", "金牛区")),
    ("重庆市", "重庆市", 4.2, "023", "400000", ("渝中区", "江北区", "南岸区", "沙坪坝区", "渝北区")),
    ("湖北省", "武汉市", 3.8, "027", "430000", ("江汉区", "武昌区", "洪山区", "江岸区")),
    ("湖南省", "长沙市", 2.8, "0731", "410000", ("岳麓区", "芙蓉区", "天心区", "开福区")),
    ("陕西省", "西安市", 3.0, "029", "710000", ("雁塔区", "碑林区", "未央区", "新城区")),
    ("天津市", "天津市", 2.8, "022", "300000", ("和平区", "南开区", "河西区", "河东区")),
    ("山东省", "青岛市", 2.2, "0532", "266000", ("市南区", "市北区", "崂山区", "黄岛区")),
    ("山东省", "济南市", 2.0, "0531", "250000", ("历下区", "市中区", "槐荫区")),
    ("福建省", "厦门市", 1.8, "0592", "361000", ("思明区", "湖里区", "集美区")),
    ("福建省", "福州市", 1.8, "0591", "350000", ("鼓楼区", "台江区", "仓山区")),
    ("河南省", "郑州市", 2.8, "0371", "450000", ("金水区", "二七区", "中原区", "管城回族区")),
    ("安徽省", "合肥市", 2.2, "0551", "230000", ("蜀山区", "包河区", "庐阳区")),
    ("辽宁省", "沈阳市", 2.0, "024", "110000", ("和平区", "沈河区", "皇姑区")),
    ("辽宁省", "大连市", 1.6, "0411", "116000", ("中山区", "沙河口区", "甘井子区")),
    ("黑龙江省", "哈尔滨市", 1.6, "0451", "150000", ("南岗区", "道里区", "香坊区")),
    ("吉林省", "长春市", 1.4, "0431", "130000", ("朝阳区", "南关区", "绿园区")),
    ("云南省", "昆明市", 1.6, "0871", "650000", ("五华区", "盘龙区", "官渡区")),
    ("广西壮族自治区", "南宁市", 1.4, "0771", "530000", ("青秀区", "兴宁区", "西乡塘区")),
    ("河北省", "石家庄市", 1.6, "0311", "050000", ("长安区", "桥西区", "裕华区")),
    ("山西省", "太原市", 1.2, "0351", "030000", ("小店区", "迎泽区", "杏花岭区")),
    ("江西省", "南昌市", 1.3, "0791", "330000", ("东湖区", "西湖区", "红谷滩区")),
    ("贵州省", "贵阳市", 1.1, "0851", "550000", ("南明区", "云岩区", "观山湖区")),
    ("海南省", "海口市", 0.8, "0898", "570000", ("龙华区", "美兰区")),
]

# (code, name, city): the brand's offline stores.
STORES: list[tuple[str, str, str]] = [
    ("BJ01", "北京三里屯太古里店", "北京市"),
    ("BJ02", "北京西单大悦城店", "北京市"),
    ("BJ03", "北京五道口购物中心店", "北京市"),
    ("SH01", "上海静安嘉里中心店", "上海市"),
    ("SH02", "上海陆家嘴正大广场店", "上海市"),
    ("SH03", "上海徐家汇港汇恒隆店", "上海市"),
    ("GZ01", "广州天河城店", "广州市"),
    ("GZ02", "广州正佳广场店", "广州市"),
    ("SZ01", "深圳万象城店", "深圳市"),
    ("SZ02", "深圳海岸城店", "深圳市"),
    ("SZ03", "深圳COCO Park店", "深圳市"),
    ("HZ01", "杭州湖滨银泰in77店", "杭州市"),
    ("HZ02", "杭州西溪印象城店", "杭州市"),
    ("NJ01", "南京新街口德基广场店", "南京市"),
    ("SU01", "苏州观前街店", "苏州市"),
    ("CD01", "成都太古里店", "成都市"),
    ("CD02", "成都IFS国际金融中心店", "成都市"),
    ("CQ01", "重庆解放碑店", "重庆市"),
    ("WH01", "武汉楚河汉街店", "武汉市"),
    ("CS01", "长沙五一广场店", "长沙市"),
    ("XA01", "西安赛格国际店", "西安市"),
    ("TJ01", "天津大悦城店", "天津市"),
    ("XM01", "厦门中山路店", "厦门市"),
    ("ZZ01", "郑州正弘城店", "郑州市"),
]
GUIDES_PER_STORE = 3
ONLINE_GUIDES = 4

# (sku, name, spec, unit price in yuan, popularity weight)
PRODUCTS: list[tuple[str, str, str, float, float]] = [
    ("LD1001", "玻尿酸补水保湿精华液", "30ml", 199.0, 9.0),
    ("LD1002", "氨基酸温和洁面乳", "120g", 89.0, 10.0),
    ("LD1003", "烟酰胺焕亮精华水", "150ml", 159.0, 7.0),
    ("LD1004", "神经酰胺修护面霜", "50g", 259.0, 6.0),
    ("LD1005", "维C亮肤精华", "30ml", 299.0, 4.0),
    ("LD1006", "清透防晒乳SPF50+ PA++++", "50ml", 139.0, 8.0),
    ("LD1007", "舒缓修护面膜", "5片装", 99.0, 9.0),
    ("LD1008", "胶原紧致眼霜", "15g", 239.0, 3.5),
    ("LD1009", "控油祛痘精华", "30ml", 169.0, 3.0),
    ("LD1010", "多肽抗皱精华", "30ml", 459.0, 2.0),
    ("LD1011", "温和卸妆油", "200ml", 129.0, 5.0),
    ("LD1012", "保湿乳液", "120ml", 149.0, 5.0),
    ("LD1013", "护手霜礼盒", "3支装", 79.0, 4.0),
    ("LD1014", "烟酰胺身体乳", "250ml", 99.0, 4.0),
    ("LD1015", "水乳套装", "水150ml+乳120ml", 329.0, 3.0),
    ("LD1016", "明星精华礼盒", "礼盒装", 899.0, 0.8),
    ("LD1017", "旅行装小样套装", "5件套", 59.0, 6.0),
    ("LD1018", "氨基酸洗发水", "400ml", 89.0, 3.0),
    ("LD1019", "修护护发精油", "50ml", 119.0, 2.0),
    ("LD1020", "润色唇膏", "3.5g", 69.0, 3.0),
    ("LD1021", "清洁泥膜", "100g", 119.0, 3.0),
    ("LD1022", "精华面膜", "10片装", 169.0, 4.0),
    ("LD1023", "男士控油洁面", "120g", 79.0, 2.0),
    ("LD1024", "男士保湿乳", "100ml", 129.0, 1.5),
    ("LD1025", "敏感肌修护套装", "3件套", 599.0, 1.2),
]

MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 145 147 150 151 152 153 155 156 157 158 159 166 "
    "173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 198 199"
).split()
VIRTUAL_PREFIXES = ("170", "171", "165", "167")

COMPOUND_SURNAMES = (
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 南宫 西门 呼延 澹台 钟离"
).split()

GIVEN_FIRST_F = list("雨思佳欣梓子诗雅可晓婉若语嘉紫静美丽秀春秋彩梦晨一艺心慧文舒巧依")
GIVEN_SECOND_F = list("涵怡萱妍彤琪蕾媛薇瑶蕊婷颖悦馨琳洁雪菲娜瑾茜月宁岚婧琦璐霏洋")
GIVEN_FIRST_M = list("子梓浩宇俊睿嘉志建明晓一天泽博文振伟国永立家承思宏")
GIVEN_SECOND_M = list("轩涛辰杰宇铭豪博航凯鹏磊楠帆鑫昊然峰川阳诚斌浩军洋森")

ROAD_WORDS = list(
    "中山 人民 解放 建设 和平 新华 长江 黄河 文化 学府 科技 花园 东风 胜利 青年 光明 幸福 团结 友谊 延安 "
    "复兴 世纪 滨江 湖滨 金融 创业 迎宾 朝阳 振兴 工业 体育 环城 银河 凤凰 桂花 梧桐 枫林 松山 翠竹 "
    "海滨 天府 星光 锦绣 龙华 太平 永安 长安 华山 泰山 金桥 白云 清河 红旗 前进 望江 香樟 石榴 玉兰".split()
)
ROAD_SUFFIXES = ["路", "路", "路", "街", "大道", "东路", "西路", "南路", "北路", "中路"]
COMMUNITY_WORDS = list(
    "阳光 绿地 万科 碧桂园 保利 华润 金地 龙湖 中海 招商 恒大 世茂 融创 翡翠 紫薇 锦江 东方 春天 "
    "蓝湾 水岸 御景 景苑 嘉园 丽都 名都 兰亭 秀水 滨湖 香榭 金色 溪岸 星河 天悦 云顶 枫丹 西城".split()
)
COMMUNITY_SUFFIXES = ["花园", "小区", "苑", "公寓", "家园", "新村", "名苑", "华府", "雅居", "城"]
STREET_OFFICE_WORDS = list(
    "城关 新城 东湖 西湖 南湖 北苑 中心 滨江 龙山 凤凰 长青 新桥 桃源 花园 金沙 望海 石桥 青龙 白沙 "
    "永宁 安宁 和平 建设 文昌 福田 沙河 东门 西门 南门 北门 大学城 高新 开发区 新华 解放".split()
)

NICK_WORDS = list(
    "小鱼 阿狸 糖果 柠檬 橘子 奶茶 月亮 星星 晴天 微笑 向日葵 小熊 兔子 猫咪 布丁 栗子 樱桃 西瓜 芒果 "
    "薄荷 海盐 棉花糖 大白 小白 阿花 团子 七七 果果 乐乐 豆豆 朵朵 安安 一一 暖阳 清风 明月 山海 远方 "
    "如初 随心 知足 静好 时光 岁月 花开 浅笑 初心 木子 三木 陈皮 茉莉 栀子 桔梗 芊芊 悠悠 甜甜 笑笑".split()
)
NICK_PREFIXES = ["", "", "", "", "小", "阿", "爱吃", "快乐的", "努力的", "一只", "我是", "Miss", "Mr."]
NICK_SUFFIXES = ["", "", "", "", "呀", "酱", "宝宝", "同学", "妈妈", "🌸", "✨", "☀️", "🍀", "~", "_", "ღ"]
ENGLISH_NICKS = (
    "Grace Lily Amy Coco Vivian Cindy Kevin Jack Tony Emma Sunny Echo Luna Mia Zoe Alice Jenny Nancy "
    "Helen Sophia Yoyo Kiki Lucky Candy Anna Ella Ivy Joy Rita Tina"
).split()

TAGS = {
    "客户等级": (["普通会员", "VIP", "SVIP"], [0.62, 0.3, 0.08]),
    "兴趣": (["护肤", "彩妆", "身体护理", "洗护", "香氛"], [0.45, 0.2, 0.15, 0.12, 0.08]),
    "肤质": (["干皮", "油皮", "混合皮", "敏感肌"], [0.3, 0.25, 0.3, 0.15]),
    "来源": (["门店", "线上", "活动"], [0.5, 0.35, 0.15]),
}


@dataclass
class Pools:
    """Index-addressable pools (polars Series so that gathering by a numpy index array is fast)."""

    surnames: pl.Series
    surname_p: np.ndarray
    rare_surnames: pl.Series
    given_f: pl.Series
    given_f_p: np.ndarray
    given_m: pl.Series
    given_m_p: np.ndarray
    given_chars: pl.Series  # for typos
    roads: pl.Series
    communities: pl.Series
    street_offices: pl.Series
    wechat_nicks: pl.Series
    pinyin_handles: pl.Series  # lower-case latin handles without digits
    chinese_handles: pl.Series  # Chinese nick stems without digits
    fake_names: pl.Series  # names of people who are not customers (gift receivers, store staff…)


def _given_names(first: list[str], second: list[str], faker_names: list[str], rng: np.random.Generator):
    """Given-name pool with weights: Faker's common names plus modern two-character combinations."""
    combos = {a + b for a in first for b in second if a != b}
    combos |= {c for c in second}  # single-character names
    names = sorted(set(faker_names) | combos)
    weights = rng.lognormal(0.0, 0.7, len(names))
    faker_set = set(faker_names)
    weights = np.array([w * (2.0 if n in faker_set else 1.0) for n, w in zip(names, weights, strict=True)])
    return pl.Series(names, dtype=pl.Utf8), weights / weights.sum()


def build_pools(seed: int) -> Pools:
    rng = np.random.default_rng([seed, 1])
    fake = Faker("zh_CN")
    fake.seed_instance(seed)

    surnames = [s for s in ZhPerson.last_names if len(s) == 1]
    weights = np.array([ZhPerson.last_names[s] for s in surnames], dtype=float)
    rare = [s for s, w in zip(surnames, weights, strict=True) if w < 0.03]
    given_f, given_f_p = _given_names(GIVEN_FIRST_F, GIVEN_SECOND_F, list(ZhPerson.first_names_female), rng)
    given_m, given_m_p = _given_names(GIVEN_FIRST_M, GIVEN_SECOND_M, list(ZhPerson.first_names_male), rng)
    chars = sorted(set("".join(given_f.to_list()) + "".join(given_m.to_list())))

    roads = sorted({w + s for w in ROAD_WORDS for s in ROAD_SUFFIXES})
    communities = sorted({w + s for w in COMMUNITY_WORDS for s in COMMUNITY_SUFFIXES})
    offices = sorted({w + "街道" for w in STREET_OFFICE_WORDS})

    nicks: set[str] = set()
    for _ in range(3000):
        kind = rng.random()
        if kind < 0.6:
            word = NICK_WORDS[rng.integers(len(NICK_WORDS))]
            nick = NICK_PREFIXES[rng.integers(len(NICK_PREFIXES))] + word
            nick += NICK_SUFFIXES[rng.integers(len(NICK_SUFFIXES))]
        elif kind < 0.8:
            nick = (
                ENGLISH_NICKS[rng.integers(len(ENGLISH_NICKS))]
                + NICK_SUFFIXES[rng.integers(len(NICK_SUFFIXES))]
            )
        else:
            nick = fake.word() + NICK_WORDS[rng.integers(len(NICK_WORDS))]
        nicks.add(nick)

    handles = set()
    for _ in range(4000):
        h = "".join(c for c in fake.user_name() if c.isalpha() and c.isascii()).lower()
        if len(h) >= 3:
            handles.add(h)
    chinese_handles = sorted(
        {NICK_PREFIXES[i % 4 + 4] + w for i, w in enumerate(NICK_WORDS)} | set(NICK_WORDS)
    )
    fake_names = sorted({fake.name() for _ in range(3000)})

    return Pools(
        surnames=pl.Series(surnames, dtype=pl.Utf8),
        surname_p=weights / weights.sum(),
        rare_surnames=pl.Series(COMPOUND_SURNAMES + rare, dtype=pl.Utf8),
        given_f=given_f,
        given_f_p=given_f_p,
        given_m=given_m,
        given_m_p=given_m_p,
        given_chars=pl.Series(chars, dtype=pl.Utf8),
        roads=pl.Series(roads, dtype=pl.Utf8),
        communities=pl.Series(communities, dtype=pl.Utf8),
        street_offices=pl.Series(offices, dtype=pl.Utf8),
        wechat_nicks=pl.Series(sorted(nicks), dtype=pl.Utf8),
        pinyin_handles=pl.Series(sorted(handles), dtype=pl.Utf8),
        chinese_handles=pl.Series(chinese_handles, dtype=pl.Utf8),
        fake_names=pl.Series(fake_names, dtype=pl.Utf8),
    )
