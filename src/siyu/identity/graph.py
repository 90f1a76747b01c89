"""The deterministic identity graph, in memory: integer-coded records and identifier values.

Records are numbered 0..R-1 in age order (earliest `seen_at`, then record_key); identifier values carry an
integer code. Records sharing a value are linked; the connected components are the customers. Everything
here is plain numpy/scipy so it can be tested without a warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


class HashCollision(Exception):
    """Two different identifier values got the same 64-bit hash (the caller falls back to exact codes)."""


def record_components(n_records: int, rid: np.ndarray, value: np.ndarray, check: np.ndarray | None = None):
    """Component label of every record (arbitrary integers; equal label = same customer).

    `rid[i]` is a record number, `value[i]` an integer code of the identifier value on it (an exact code, or
    a 64-bit hash with `check` a second, independent hash of the same value). Records that share a value
    are chained in sorted order, so the graph has only record nodes and fewer edges than identifier rows.
    Raises HashCollision when two rows agree on `value` but not on `check`.
    """
    if n_records == 0:
        return np.zeros(0, dtype=np.int64)
    rid = np.asarray(rid)
    value = np.asarray(value)
    order = np.argsort(value, kind="stable")
    sorted_values = value[order]
    same = sorted_values[1:] == sorted_values[:-1]
    if check is not None:
        sorted_check = np.asarray(check)[order]
        if np.any(same & (sorted_check[1:] != sorted_check[:-1])):
            raise HashCollision
    sorted_rid = rid[order]
    src = sorted_rid[:-1][same]
    dst = sorted_rid[1:][same]
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_records, n_records)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="weak")
    return labels.astype(np.int64, copy=False)


@dataclass
class Assignment:
    customer_id: np.ndarray  # new customer id of every record (index = record number)
    new_ids: int  # ids minted in this run
    merges: list[tuple[int, int, int]] = field(default_factory=list)  # (survivor, absorbed, component)
    splits: list[tuple[int, int, int]] = field(default_factory=list)  # (old id, id that took records, n)

    @property
    def customers(self) -> int:
        return int(len(np.unique(self.customer_id)))


def assign_customer_ids(
    labels: np.ndarray, old: np.ndarray, next_id: int, reclaim: dict[int, int] | None = None
) -> Assignment:
    """Stable ids for components.

    `labels[r]` is record r's component, `old[r]` its current customer id (-1 if none); records are in age
    order. Rules:
    - every existing id has a *home*: the component holding its oldest record;
    - a component keeps the smallest id homed in it; the other ids homed there are merged into it;
    - records of an id outside its home (the id's cluster fell apart) follow their new component: a split;
    - a component with no homed id that holds a record of `reclaim` (record -> an id absorbed earlier,
      whose oldest record it was) takes that id back, so that undoing a merge restores the absorbed id;
    - other components with no homed id get new ids from `next_id` on, in order of their oldest record.
    """
    labels = np.asarray(labels, dtype=np.int64)
    old = np.asarray(old, dtype=np.int64)
    n = len(labels)
    if n == 0:
        return Assignment(np.zeros(0, dtype=np.int64), 0)
    comps, comp_first, comp_of = np.unique(labels, return_index=True, return_inverse=True)
    cid_of_comp = np.full(len(comps), -1, dtype=np.int64)

    old_rids = np.flatnonzero(old >= 0)
    old_vals = old[old_rids]
    merges: list[tuple[int, int, int]] = []
    home = np.zeros(0, dtype=np.int64)
    ids = np.zeros(0, dtype=np.int64)
    if len(old_rids):
        ids, first_pos = np.unique(old_vals, return_index=True)  # first_pos -> each id's oldest record
        home = comp_of[old_rids[first_pos]]
        order = np.lexsort((ids, home))
        home_s, ids_s = home[order], ids[order]
        lead = np.ones(len(ids_s), dtype=bool)
        lead[1:] = home_s[1:] != home_s[:-1]
        survivor_of = ids_s[lead][np.cumsum(lead) - 1]
        cid_of_comp[home_s[lead]] = ids_s[lead]
        absorbed = ~lead
        merges = [
            (int(s), int(a), int(comps[c]))
            for s, a, c in zip(survivor_of[absorbed], ids_s[absorbed], home_s[absorbed], strict=True)
        ]

    if reclaim:
        in_use = set(ids.tolist())
        for rid, cid in sorted(reclaim.items()):
            comp = comp_of[rid]
            if cid_of_comp[comp] < 0 and cid not in in_use:
                cid_of_comp[comp] = cid
                in_use.add(cid)
    fresh = np.flatnonzero(cid_of_comp < 0)
    fresh = fresh[np.argsort(comp_first[fresh], kind="stable")]
    cid_of_comp[fresh] = next_id + np.arange(len(fresh), dtype=np.int64)
    customer_id = cid_of_comp[comp_of]

    splits: list[tuple[int, int, int]] = []
    if len(old_rids):
        home_of_record = home[np.searchsorted(ids, old_vals)]
        moved = comp_of[old_rids] != home_of_record
        if moved.any():
            pairs = np.stack([old_vals[moved], customer_id[old_rids[moved]]], axis=1)
            uniq, counts = np.unique(pairs, axis=0, return_counts=True)
            splits = [(int(a), int(b), int(c)) for (a, b), c in zip(uniq, counts, strict=True)]
    return Assignment(customer_id, int(len(fresh)), merges, splits)
