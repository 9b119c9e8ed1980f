"""The study-keyed cache: signature, LRU by count and by bytes, copies, locking, model list."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_medground import __version__
from napari_medground.cache import (
    Signature,
    StudyCache,
    all_caches,
    clear_all,
    loaded_models,
    register_models,
)


def test_every_part_of_the_signature_matters():
    cache = StudyCache("test_signature")
    base = Signature("study-a", "sha-1", ("body",))
    cache.put(base, 1)
    assert base.version == __version__
    assert cache.get(Signature("study-a", "sha-1", ("body",))) == 1
    for other in (Signature("study-b", "sha-1", ("body",)), Signature("study-a", "sha-2", ("body",)),
                  Signature("study-a", "sha-1", ("lungs",)), Signature("study-a", "sha-1", ("body",), "0.0.0")):
        assert cache.get(other) is None
    assert cache.hits == 1 and cache.misses == 4


def test_least_recently_used_goes_first_by_count_and_by_bytes():
    cache = StudyCache("test_lru", max_items=2)
    a, b, c = (Signature(s) for s in "abc")
    cache.put(a, 1)
    cache.put(b, 2)
    cache.get(a)  # a is now the most recent
    cache.put(c, 3)
    assert a in cache and c in cache and b not in cache
    limit = {"bytes": 250}
    sized = StudyCache("test_bytes", max_bytes=lambda: limit["bytes"], size_of=lambda v: v.nbytes)
    for s in "abc":
        sized.put(Signature(s), np.zeros(100, np.uint8))
    assert len(sized) == 2 and sized.bytes == 200 and Signature("a") not in sized
    limit["bytes"] = 10  # read on each insert; the newest entry is always kept
    sized.put(Signature("d"), np.zeros(100, np.uint8))
    assert len(sized) == 1 and Signature("d") in sized
    with pytest.raises(ValueError, match="needs size_of"):
        StudyCache("test_bad", max_bytes=10)


def test_copies_keep_callers_apart_and_first_store_wins():
    cache = StudyCache("test_copy", copy=lambda v: dict(v))
    sig = Signature("s")
    first = cache.put(sig, {"liver": 1})
    first["spleen"] = 2  # a caller filling its own memo
    assert cache.get(sig) == {"liver": 1}
    assert cache.put(sig, {"other": 0}) == {"liver": 1}  # a second computation loses


def test_concurrent_callers_share_one_stored_value():
    cache = StudyCache("test_threads")
    sig = Signature("s")
    got, barrier = [], threading.Barrier(8)

    def work():
        barrier.wait()
        got.append(cache.get_or_compute(sig, lambda: object()))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len({id(v) for v in got}) == 1


def test_clear_all_empties_every_backend_cache():
    import napari_medground.models.brain.segment  # noqa: F401 - registers its cache
    import napari_medground.models.ct.anatomy  # noqa: F401
    import napari_medground.models.ct.organs  # noqa: F401
    import napari_medground.models.litemedsam.runtime  # noqa: F401

    names = {c.name for c in all_caches()}
    assert {"brain", "ct_anatomy", "ct_organs", "litemedsam_embeddings"} <= names
    cache = StudyCache("test_clear")
    cache.put(Signature("s"), 1)
    clear_all()
    assert len(cache) == 0


def test_loaded_models_asks_registered_holders_and_survives_a_failing_one():
    held = {"toy:cpu": 123}
    register_models("test_toy", lambda: dict(held))
    register_models("test_broken", lambda: 1 / 0)
    models = loaded_models()
    assert models["toy:cpu"] == 123
    held.clear()
    assert "toy:cpu" not in loaded_models()
