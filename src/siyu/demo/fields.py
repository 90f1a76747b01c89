"""Vectorised helpers that turn numpy arrays into the strings platforms export."""

from __future__ import annotations

import numpy as np
import polars as pl

ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
URLSAFE = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def unique_ints(rng: np.random.Generator, low: int, high: int, size: int, exclude=None) -> np.ndarray:
    """`size` distinct int64 values in [low, high), in random order, none of them in sorted `exclude`."""
    out = np.empty(0, dtype=np.int64)
    while len(out) < size:
        cand = rng.integers(low, high, size=int((size - len(out)) * 1.05) + 64, dtype=np.int64)
        allv = np.concatenate([out, cand])
        _, first = np.unique(allv, return_index=True)
        keep = np.zeros(len(allv), dtype=bool)
        keep[first] = True
        if exclude is not None and len(exclude):
            pos = np.searchsorted(exclude, allv).clip(0, len(exclude) - 1)
            keep &= exclude[pos] != allv
        out = allv[keep][:size]
    return out


def random_strings(rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray = ALNUM) -> pl.Series:
    """n random strings of `length` characters drawn from a byte alphabet."""
    if n == 0:
        return pl.Series([], dtype=pl.Utf8)
    codes = alphabet[rng.integers(0, len(alphabet), size=(n, length))]
    raw = np.ascontiguousarray(codes).view(f"S{length}").ravel()
    return pl.Series(raw.astype(f"U{length}"), dtype=pl.Utf8)


def ints_to_base(values: np.ndarray, alphabet: np.ndarray, width: int) -> pl.Series:
    """Fixed-width encoding of non-negative ints in the given alphabet (e.g. hex ids)."""
    v = values.astype(np.int64).copy()
    base = len(alphabet)
    digits = np.empty((len(v), width), dtype=np.uint8)
    for k in range(width - 1, -1, -1):
        digits[:, k] = alphabet[v % base]
        v //= base
    raw = np.ascontiguousarray(digits).view(f"S{width}").ravel()
    return pl.Series(raw.astype(f"U{width}"), dtype=pl.Utf8)


def blank(n: int) -> pl.Series:
    """n missing strings."""
    return pl.repeat(None, n, dtype=pl.Utf8, eager=True)


def int_str(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(np.int64)).cast(pl.Utf8)


def zfill(values: np.ndarray, width: int) -> pl.Series:
    return pl.Series(values.astype(np.int64)).cast(pl.Utf8).str.zfill(width)


def cents_to_str(cents: np.ndarray, thousands: np.ndarray | None = None) -> pl.Series:
    """Amounts in cents → '1299.00' (or '1,299.00' where `thousands` is set)."""
    cents = np.asarray(cents, dtype=np.int64)
    df = pl.DataFrame({"y": cents // 100, "f": cents % 100})
    fen = pl.col("f").cast(pl.Utf8).str.zfill(2)
    plain = pl.concat_str([pl.col("y").cast(pl.Utf8), pl.lit("."), fen])
    if thousands is None or not (np.asarray(thousands) & (cents >= 100_000)).any():
        return df.select(plain).to_series()
    df = df.with_columns(t=pl.Series(np.asarray(thousands) & (cents >= 100_000)))
    sep = pl.concat_str(
        [
            (pl.col("y") // 1000).cast(pl.Utf8),
            pl.lit(","),
            (pl.col("y") % 1000).cast(pl.Utf8).str.zfill(3),
            pl.lit("."),
            fen,
        ]
    )
    return df.select(pl.when(pl.col("t")).then(sep).otherwise(plain)).to_series()


def where(mask: np.ndarray, a, b) -> pl.Series:
    """Elementwise choice between two Series/scalars by a numpy boolean mask."""
    m = pl.Series(np.asarray(mask, dtype=bool))
    la = pl.lit(a) if not isinstance(a, pl.Series) else a
    lb = pl.lit(b) if not isinstance(b, pl.Series) else b
    return pl.select(pl.when(m).then(la).otherwise(lb)).to_series()


def mask_phone(phone: pl.Series) -> pl.Series:
    """13812345678 → 138****5678."""
    return phone.str.slice(0, 3) + "****" + phone.str.slice(7, 4)


_STARS = pl.Series(["", "*", "**", "***", "****", "*****", "******"], dtype=pl.Utf8)


def stars(counts: np.ndarray) -> pl.Series:
    return _STARS[np.clip(np.asarray(counts, dtype=np.int64), 0, len(_STARS) - 1)]


def mask_name(name: pl.Series, style: np.ndarray) -> pl.Series:
    """style 0: 张* / 张** (first character kept), 1: *三 (last character kept), 2: full name."""
    n = name.str.len_chars().to_numpy()
    s = stars(n - 1)
    first = name.str.slice(0, 1) + s
    last = s + name.str.slice(-1, 1)
    style = np.asarray(style)
    return pl.select(
        pl.when(pl.Series(style == 0)).then(first).when(pl.Series(style == 1)).then(last).otherwise(name)
    ).to_series()


def epoch_to_str(seconds: np.ndarray, fmt: str = "%Y-%m-%d %H:%M:%S") -> pl.Series:
    return pl.from_epoch(pl.Series(np.asarray(seconds, dtype=np.int64)), time_unit="s").dt.strftime(fmt)


def typo_digits(rng: np.random.Generator, phones: np.ndarray, forbidden: np.ndarray) -> np.ndarray:
    """Replace one of the last 8 digits of each phone (int64) so that the result is no known phone."""
    out = phones.copy()
    todo = np.arange(len(out))
    while len(todo):
        pos = rng.integers(0, 8, size=len(todo))
        scale = 10**pos
        digit = (phones[todo] // scale) % 10
        new_digit = (digit + rng.integers(1, 10, size=len(todo))) % 10
        out[todo] = phones[todo] + (new_digit - digit) * scale
        pos_in = np.searchsorted(forbidden, out[todo]).clip(0, max(len(forbidden) - 1, 0))
        clash = forbidden[pos_in] == out[todo] if len(forbidden) else np.zeros(len(todo), dtype=bool)
        todo = todo[clash]
    return out


def typo_name(rng: np.random.Generator, names: pl.Series, chars: pl.Series) -> pl.Series:
    """Replace one character after the first (the surname stays) with a different given-name character."""
    if len(names) == 0:
        return names
    n = names.str.len_chars().to_numpy()
    pos = 1 + (rng.random(len(n)) * np.maximum(n - 1, 1)).astype(np.int64)
    pos = np.minimum(pos, np.maximum(n - 1, 1))
    k = rng.integers(0, len(chars), size=len(n))
    df = pl.DataFrame({"name": names, "pos": pos, "r1": chars[k], "r2": chars[(k + 1) % len(chars)]})
    old = pl.col("name").str.slice(pl.col("pos"), 1)
    repl = pl.when(old == pl.col("r1")).then(pl.col("r2")).otherwise(pl.col("r1"))
    return df.select(
        pl.concat_str(
            [pl.col("name").str.slice(0, pl.col("pos")), repl, pl.col("name").str.slice(pl.col("pos") + 1)]
        )
    ).to_series()
