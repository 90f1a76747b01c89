"""Synthetic demo brand with ground truth.

`generate_brand(out_dir, people, seed)` writes one export file per channel (Tmall, JD, Douyin, Youzan, WeCom,
offline POS members and sales) in the platforms' real formats and quirks, plus `ground_truth.csv`
(source, record_id, person_id: which true person each imported record belongs to), `persons.csv` (the true
population) and `manifest.json`. Generation is vectorised (numpy/polars) and deterministic for a seed.

What links whom, as in real data:
- full phone: Youzan (买家手机号, 收货人手机号), POS members (手机号), WeCom (备注手机号), the unmasked minority of
  Tmall 联系手机, JD 联系电话 and Douyin 收件人手机号;
- platform buyer ids within a platform: Tmall 买家会员名, JD 下单帐号;
- member number between POS members and POS sales (会员卡号); external_userid within WeCom;
- everything else is partial evidence: masked phones (`138****5678`), virtual numbers (`17012345678-1234`,
  unique per order), masked names (`张*`), addresses cut after the district, WeChat nicknames.
Traps: households (same surname and address, different persons), store landlines typed in as members'
phones, phone and name typos, gift orders shipped to someone else, Youzan 分销员手机号 (not the buyer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from . import fields as F
from . import platforms as P
from . import writers
from .people import CHANNEL_LABELS, CHANNELS, EPOCH, build_geography, build_population
from .pools import CITIES, GUIDES_PER_STORE, ONLINE_GUIDES, STORES, build_pools

DEMO_AS_OF = date(2026, 11, 20)  # "today" of the demo brand: fixed so that a seed gives the same bytes
FORMATS = ("taobao", "jd", "douyin", "youzan", "wecom", "pos")
GROUND_TRUTH_FILE = "ground_truth.csv"
PERSONS_FILE = "persons.csv"
MANIFEST_FILE = "manifest.json"


@dataclass
class DemoFile:
    path: Path
    format: str  # taobao | jd | douyin | youzan | wecom | pos
    source: str
    rows: int  # data rows (lines) in the file, header excluded


@dataclass
class DemoManifest:
    files: list[DemoFile]
    ground_truth: Path
    people: int
    stores: list[dict]
    guides: list[dict]
    seed: int = 7
    as_of: str = DEMO_AS_OF.isoformat()
    persons: Path | None = None
    records: dict[str, int] = field(default_factory=dict)  # distinct records per source
    seconds: float = 0.0


def _stores_and_guides(seed: int, pools) -> tuple[list[dict], list[dict], np.ndarray, list[str]]:
    rng = np.random.default_rng([seed, 2])
    city_index = {c[1]: i for i, c in enumerate(CITIES)}
    stores = [{"code": code, "name": name, "city": city} for code, name, city in STORES]
    store_city = np.array([city_index[s["city"]] for s in stores])
    landlines = []
    for s in stores:
        area = CITIES[city_index[s["city"]]][3]
        landlines.append(f"{area}-{rng.integers(6, 9)}{rng.integers(0, 10**7):07d}")
        s["phone"] = landlines[-1]
    names = pools.fake_names.to_list()
    chosen = rng.choice(len(names), size=len(stores) * GUIDES_PER_STORE + ONLINE_GUIDES, replace=False)
    guides = []
    for s in stores:
        for k in range(GUIDES_PER_STORE):
            guides.append(
                {
                    "name": names[chosen[len(guides)]],
                    "wecom_userid": f"{s['code'].lower()}_{k + 1:02d}",
                    "store_code": s["code"],
                }
            )
    for k in range(ONLINE_GUIDES):
        guides.append(
            {"name": names[chosen[len(guides)]], "wecom_userid": f"online_{k + 1:02d}", "store_code": None}
        )
    return stores, guides, store_city, landlines


def _write_xlsx_parts(
    out_dir: Path, stem: str, frame: pl.DataFrame, record_col: str
) -> list[tuple[Path, int]]:
    """One file, or `<stem>_1.xlsx`, `<stem>_2.xlsx`… when the rows exceed a sheet; a record never spans files."""
    limit = writers.XLSX_MAX_ROWS
    if frame.height <= limit:
        path = out_dir / f"{stem}.xlsx"
        return [(path, writers.write_xlsx(path, frame))]
    ids = frame[record_col]
    starts_record = np.ones(frame.height, dtype=bool)
    starts_record[1:] = (ids[1:] != ids[:-1]).to_numpy()
    boundaries = np.flatnonzero(starts_record)
    parts, start = [], 0
    while start < frame.height:
        end = (
            frame.height
            if frame.height - start <= limit
            else int(boundaries[np.searchsorted(boundaries, start + limit, side="right") - 1])
        )
        if end <= start:
            raise ValueError(f"record {ids[start]} has more lines than a sheet holds")
        path = out_dir / f"{stem}_{len(parts) + 1}.xlsx"
        parts.append((path, writers.write_xlsx(path, frame.slice(start, end - start))))
        start = end
    return parts


def _persons_frame(pop, geo, pools) -> pl.DataFrame:
    a = pop.address
    channels = (
        pl.DataFrame({c: F.where(pop.member[:, i], c, None) for i, c in enumerate(CHANNELS)})
        .select(pl.concat_str(pl.all(), separator="|", ignore_nulls=True))
        .to_series()
    )
    return pl.DataFrame(
        {
            "person_id": pop.person_id,
            "name": pop.name,
            "surname": pop.surname,
            "gender": F.where(pop.female, "女", "男"),
            "birthday": pl.from_epoch(pl.Series(pop.birth_day), time_unit="d").dt.strftime("%Y-%m-%d"),
            "phone": pop.phone_str,
            "email": pop.email,
            "province": geo.province[a.city],
            "city": geo.city[a.city],
            "district": geo.district[a.district],
            "address": pools.street_offices[a.office] + a.detail(pools),
            "household": F.where(pop.household >= 0, "H" + F.zfill(np.maximum(pop.household, 0), 6), None),
            "acquisition_channel": pl.Series(CHANNEL_LABELS)[pop.acquisition],
            "wechat_nickname": pop.wechat_nick,
            "channels": channels,
        }
    )


def generate_brand(
    out_dir: Path,
    people: int = 20_000,
    seed: int = 7,
    *,
    as_of: date | None = None,
    progress: Callable[[str], None] | None = None,
    orders_per_buyer: float = 2.0,
) -> DemoManifest:
    """Write a demo brand's channel exports and ground truth into `out_dir`; return (and save) the manifest."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    as_of = as_of or DEMO_AS_OF
    say = progress or (lambda _msg: None)

    say("pools")
    pools = build_pools(seed)
    geo = build_geography()
    stores, guides, store_city, landlines = _stores_and_guides(seed, pools)
    say("people")
    pop = build_population(np.random.default_rng([seed, 3]), people, pools, geo, as_of)
    ctx = P.Ctx(
        seed=seed,
        pop=pop,
        pools=pools,
        geo=geo,
        as_of=as_of,
        stores=stores,
        guides=guides,
        store_city=store_city,
        store_landline=landlines,
        orders_per_buyer=orders_per_buyer,
    )

    files: list[DemoFile] = []
    truth: list[pl.DataFrame] = []

    def add(out: P.Output, source: str) -> None:
        truth.append(out.records.select(pl.lit(source).alias("source"), "record_id", "person_id"))

    say("taobao")
    out = P.build_taobao(ctx)
    path = out_dir / "taobao_orders.csv"
    rows = writers.write_csv(
        path,
        out.frame,
        encoding="gb18030",
        crlf=True,
        trailing_comma=True,
        modes={"订单编号": "raw", "物流单号": "raw"},
    )
    files.append(DemoFile(path, "taobao", "tmall", rows))
    add(out, "tmall")
    del out

    say("jd")
    out = P.build_jd(ctx)
    for path, rows in _write_xlsx_parts(out_dir, "jd_orders", out.frame, "订单号"):
        files.append(DemoFile(path, "jd", "jd", rows))
    add(out, "jd")
    del out

    say("douyin")
    out = P.build_douyin(ctx)
    path = out_dir / "douyin_orders.csv"
    modes = {c: "quote" for c in out.frame.columns} | {c: "raw" for c in P.DOUYIN_TAB_COLUMNS}
    rows = writers.write_csv(path, out.frame, encoding="utf-8", bom=True, crlf=True, modes=modes)
    files.append(DemoFile(path, "douyin", "douyin", rows))
    add(out, "douyin")
    del out

    say("youzan")
    out = P.build_youzan(ctx)
    for path, rows in _write_xlsx_parts(out_dir, "youzan_orders", out.frame, "订单号"):
        files.append(DemoFile(path, "youzan", "youzan", rows))
    add(out, "youzan")
    del out

    say("wecom")
    out = P.build_wecom(ctx)
    for path, rows in _write_xlsx_parts(out_dir, "wecom_contacts", out.frame, "external_userid"):
        files.append(DemoFile(path, "wecom", "wecom", rows))
    add(out, "wecom")
    del out

    say("pos")
    members, sales = P.build_pos(ctx)
    path = out_dir / "pos_members.csv"
    files.append(DemoFile(path, "pos", "pos", writers.write_csv(path, members.frame)))
    path = out_dir / "pos_sales.csv"
    files.append(DemoFile(path, "pos", "pos", writers.write_csv(path, sales.frame, crlf=True)))
    add(members, "pos")
    add(sales, "pos")
    del members, sales

    say("ground truth")
    gt = pl.concat(truth)
    truth.clear()
    counts = gt.group_by("source", maintain_order=True).agg(
        pl.len(), pl.col("record_id").n_unique().alias("u")
    )
    for src, total, unique in counts.iter_rows():
        if total != unique:
            raise AssertionError(f"duplicate record ids in {src}")
    gt_path = out_dir / GROUND_TRUTH_FILE
    gt.write_csv(gt_path)
    persons_path = out_dir / PERSONS_FILE
    _persons_frame(pop, geo, pools).write_csv(persons_path)

    manifest = DemoManifest(
        files=files,
        ground_truth=gt_path,
        people=people,
        stores=stores,
        guides=guides,
        seed=seed,
        as_of=as_of.isoformat(),
        persons=persons_path,
        records={src: int(total) for src, total, _u in counts.iter_rows()},
        seconds=round(time.perf_counter() - t0, 2),
    )
    write_manifest(manifest, out_dir)
    say("done")
    return manifest


def _rel(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def write_manifest(manifest: DemoManifest, out_dir: Path | None = None) -> Path:
    """Save the manifest as `manifest.json` (paths relative to its directory). Returns its path."""
    out_dir = Path(out_dir) if out_dir is not None else Path(manifest.ground_truth).parent
    data = asdict(manifest)
    data["files"] = [
        {"path": _rel(f.path, out_dir), "format": f.format, "source": f.source, "rows": f.rows}
        for f in manifest.files
    ]
    data["ground_truth"] = _rel(manifest.ground_truth, out_dir)
    data["persons"] = _rel(manifest.persons, out_dir)
    path = out_dir / MANIFEST_FILE
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def load_manifest(path: Path) -> DemoManifest:
    """Read `manifest.json` (given the file or its directory); paths come back absolute."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    base = path.parent
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"] = [
        DemoFile(base / f["path"], f["format"], f["source"], int(f["rows"])) for f in data["files"]
    ]
    data["ground_truth"] = base / data["ground_truth"]
    data["persons"] = base / data["persons"] if data.get("persons") else None
    return DemoManifest(**data)


def main(argv: list[str] | None = None) -> None:
    """`python -m siyu.demo.generate OUT_DIR [--people N] [--seed S] [--orders-per-buyer M]`: write a brand,
    print files and timing. M: the mean number of orders of each platform buyer (default 2; 7.2 gives about
    10M orders at 1M people, the scale of the analytics benchmark's target)."""
    import argparse
    import resource

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders-per-buyer", type=float, default=2.0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    manifest = generate_brand(
        args.out_dir,
        people=args.people,
        seed=args.seed,
        orders_per_buyer=args.orders_per_buyer,
        progress=lambda step: print(f"{time.perf_counter() - t0:7.1f}s  {step}", flush=True),
    )
    for f in manifest.files:
        print(f"{f.path.name:24} {f.format:7} {f.source:7} {f.rows:>10,} rows")
    print(f"{sum(f.rows for f in manifest.files):,} rows, records {manifest.records}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{manifest.seconds:.1f}s, peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()


__all__ = [
    "DemoFile",
    "DemoManifest",
    "EPOCH",
    "FORMATS",
    "generate_brand",
    "load_manifest",
    "write_manifest",
]
