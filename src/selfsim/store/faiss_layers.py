"""Reaching inside a FAISS index: its layers, its search-time knobs and the vectors it keeps uncompressed.

A collection's index is a FAISS index from a spec string, wrapped in an ``IndexIDMap2`` when it cannot
key vectors by chunk id itself (anything but IVF). The layers matter at search time: FAISS takes its
search parameters (``efSearch`` for HNSW, ``nprobe`` for IVF, a selector of allowed ids) nested the way
the index is nested, and an ``IndexRefine`` passes only the parameters nested inside it on to its base,
where an id map's translation of external ids never reaches. :func:`search_parameters` builds that
nesting from flat knobs, so :class:`~selfsim.store.vectors.VectorIndex` never needs to know the layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

DEFAULT_EF_SEARCH = 384
DEFAULT_NPROBE = 32
DEFAULT_REFINE_FACTOR = 16


def unwrapped(index: faiss.Index) -> faiss.Index:
    """The index inside an id map (or ``index`` itself), as its own FAISS class."""
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return faiss.downcast_index(index.index)
    return faiss.downcast_index(index)


def takes_ids(index: faiss.Index) -> bool:
    """Whether ``index`` stores ids of its own (an IVF index does; HNSW, Flat and refined indexes do not)."""
    return isinstance(faiss.downcast_index(index), faiss.IndexIVF)


def can_remove(index: faiss.Index) -> bool:
    """Whether FAISS can drop vectors from ``index`` in place (flat codes and inverted lists can; an HNSW
    graph and a refined index cannot)."""
    return isinstance(unwrapped(index), (faiss.IndexFlatCodes, faiss.IndexIVF))


def selector_is_internal(index: faiss.Index) -> bool:
    """Whether a selector for ``index`` must name storage positions rather than ids: an id map translates a
    selector given at the top, but a refined index hands its base only the parameters nested for it."""
    return isinstance(index, faiss.IndexIDMap2) and isinstance(unwrapped(index), faiss.IndexRefine)


def flat_storage(index: faiss.Index) -> np.ndarray | None:
    """The ``(ntotal, dim)`` float32 matrix ``index`` keeps its vectors in, in storage order, when it keeps
    them uncompressed (Flat, HNSW over flat storage, a flat re-ranking store); None otherwise.

    A view into FAISS's memory, no copy: valid until the index is next changed.
    """
    inner = unwrapped(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    elif isinstance(inner, faiss.IndexRefine):
        inner = faiss.downcast_index(inner.refine_index)
    if not isinstance(inner, faiss.IndexFlat) or inner.ntotal == 0:
        return None
    return faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d).reshape(inner.ntotal, inner.d)


def tune(index: faiss.Index) -> None:
    """The defaults a collection's index searches with when a query names no knobs of its own.

    Measured on 1M 384-d vectors drawn from a mixture fitted to MiniLM vectors, a harder set than real
    text (benchmarks/ann_scale.py): HNSW32 reaches recall@10 0.964 at efSearch 384 (0.905 at 128; on 90k
    real vectors 128 already gives 0.986), at a p99 under 3 ms on one core; IVF4096 lists reach 0.969 at
    nprobe 32; IVF-PQ48 codes alone stay near 0.56, and re-ranking 16 candidates per result from 8-bit
    scalar-quantised vectors brings them to 0.95 (4 candidates: 0.87).
    """
    inner = unwrapped(index)
    if isinstance(inner, faiss.IndexRefine):
        inner.k_factor = DEFAULT_REFINE_FACTOR
        inner = faiss.downcast_index(inner.base_index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = DEFAULT_EF_SEARCH
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is not None:
        ivf.nprobe = min(int(ivf.nlist), DEFAULT_NPROBE)
        quantizer = faiss.downcast_index(ivf.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer.hnsw.efSearch = max(DEFAULT_EF_SEARCH, 2 * int(ivf.nprobe))


def knobs(index: faiss.Index) -> dict[str, int]:
    """The search-time settings ``index`` uses by default: ``ef_search`` (HNSW, or an IVF's HNSW
    quantiser), ``nprobe`` (IVF) and ``refine_factor`` (a refined index); empty for Flat."""
    found: dict[str, int] = {}
    inner = unwrapped(index)
    if isinstance(inner, faiss.IndexRefine):
        found["refine_factor"] = int(inner.k_factor)
        inner = faiss.downcast_index(inner.base_index)
    if isinstance(inner, faiss.IndexHNSW):
        found["ef_search"] = int(inner.hnsw.efSearch)
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is not None:
        found["nprobe"] = int(ivf.nprobe)
        quantizer = faiss.downcast_index(ivf.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            found["ef_search"] = int(quantizer.hnsw.efSearch)
    return found


@dataclass
class Parameters:
    """FAISS search parameters with every SWIG object they point at kept alive (FAISS's Python wrapper
    does not hold them, so a selector could otherwise be freed mid-search)."""

    top: faiss.SearchParameters | None
    keep: list[Any] = field(default_factory=list)


def search_parameters(index: faiss.Index, selector: faiss.IDSelector | None = None,
                      ef_search: int | None = None, nprobe: int | None = None) -> Parameters:
    """Parameters for one ``index.search``: ``selector`` (of ids, or of storage positions where
    :func:`selector_is_internal`) and the knobs, where the index has them; None knobs keep its defaults.

    With no selector and no knob that applies, ``top`` is None and FAISS searches as tuned.
    """
    made = Parameters(None)
    inner = unwrapped(index)
    refine = inner if isinstance(inner, faiss.IndexRefine) else None
    if refine is not None:
        inner = faiss.downcast_index(refine.base_index)
    base, applies = _base_parameters(inner, ef_search, nprobe, made.keep)
    if selector is None and not applies:
        return made
    if selector is not None:
        base.sel = selector
        made.keep.append(selector)
    made.keep.append(base)
    if refine is None:
        made.top = base
        return made
    made.top = faiss.IndexRefineSearchParameters(k_factor=float(refine.k_factor), base_index_params=base)
    return made


def _base_parameters(inner: faiss.Index, ef_search: int | None, nprobe: int | None,
                     keep: list[Any]) -> tuple[faiss.SearchParameters, bool]:
    """Parameters of the right class for the index under any refinement (FAISS refuses any other class),
    and whether a knob given applies to it.

    Every knob is set explicitly: once parameters are given FAISS reads all of them, and its parameter
    objects default to ``efSearch`` 16 and ``nprobe`` 1, not to what the index was tuned with.
    """
    if isinstance(inner, faiss.IndexHNSW):
        wanted = int(ef_search) if ef_search is not None else int(inner.hnsw.efSearch)
        return faiss.SearchParametersHNSW(efSearch=wanted), ef_search is not None
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is None:
        return faiss.SearchParameters(), False
    parameters = faiss.SearchParametersIVF(nprobe=int(nprobe if nprobe is not None else ivf.nprobe))
    applies = nprobe is not None
    quantizer = faiss.downcast_index(ivf.quantizer)
    if isinstance(quantizer, faiss.IndexHNSW):
        wanted = int(ef_search) if ef_search is not None else int(quantizer.hnsw.efSearch)
        # The quantiser must offer at least nprobe lists: an HNSW search returns at most efSearch.
        quantizer_parameters = faiss.SearchParametersHNSW(efSearch=max(wanted, int(parameters.nprobe)))
        keep.append(quantizer_parameters)
        parameters.quantizer_params = quantizer_parameters
        applies = applies or ef_search is not None
    return parameters, applies
