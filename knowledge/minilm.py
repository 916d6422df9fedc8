"""all-MiniLM-L6-v2 as a small torch module: no sentence-transformers, no transformers.

The bundled model is a 6-layer BERT with mean pooling and L2 normalization. Importing
``transformers`` costs seconds at start-up and ``SentenceTransformer.encode`` adds overhead to
every call, so this module loads the same safetensors weights and tokenizer.json with
``safetensors`` and ``tokenizers`` and runs the forward pass itself (same numbers as
sentence-transformers, to float rounding). On CPUs with bfloat16 instructions the layers run
in bfloat16, which takes a third less time per query and changes the vectors by less than
0.002 in cosine (int8 quantization would be faster still but costs a point of accuracy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional

MAX_TOKENS = 256
"""sentence-transformers' ``max_seq_length`` for this model: longer texts are truncated."""


class _Layer(nn.Module):
    def __init__(self, hidden: int, intermediate: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        return x.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        context = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        context = context.transpose(1, 2).reshape(batch, length, hidden)
        x = self.attention_norm(x + self.attention_out(context))
        out: torch.Tensor = self.output_norm(x + self.output(functional.gelu(self.intermediate(x))))
        return out


class MiniLM(nn.Module):
    """BERT encoder + mean pooling + L2 normalization, as in the sentence-transformers model."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        hidden = int(config["hidden_size"])
        eps = float(config["layer_norm_eps"])
        self.word = nn.Embedding(int(config["vocab_size"]), hidden)
        self.position = nn.Embedding(int(config["max_position_embeddings"]), hidden)
        self.token_type = nn.Embedding(int(config["type_vocab_size"]), hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(
                hidden, int(config["intermediate_size"]), int(config["num_attention_heads"]), eps
            )
            for _ in range(int(config["num_hidden_layers"]))
        )

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Sentence vectors for token ``ids`` (batch, length) with ``attention`` 1/0 masks."""
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.norm(self.word(ids) + self.position(positions) + self.token_type.weight[0])
        # (batch, 1, 1, length): every query position may attend to the real tokens only.
        # Without padding there is nothing to mask, and attention takes its faster path.
        mask = None if bool(attention.all()) else attention.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        x = x.float()
        weights = attention.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return functional.normalize(pooled, p=2.0, dim=1)


def _state_dict(raw: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Rename the Hugging Face BERT weights to this module's names."""
    out = {
        "word.weight": raw["embeddings.word_embeddings.weight"],
        "position.weight": raw["embeddings.position_embeddings.weight"],
        "token_type.weight": raw["embeddings.token_type_embeddings.weight"],
        "norm.weight": raw["embeddings.LayerNorm.weight"],
        "norm.bias": raw["embeddings.LayerNorm.bias"],
    }
    names = {
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attention_out": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "intermediate": "intermediate.dense",
        "output": "output.dense",
        "output_norm": "output.LayerNorm",
    }
    for i in range(n_layers):
        for ours, theirs in names.items():
            for part in ("weight", "bias"):
                out[f"layers.{i}.{ours}.{part}"] = raw[f"encoder.layer.{i}.{theirs}.{part}"]
    return out


def load_model(model_dir: Path, weights: Path | None = None) -> MiniLM:
    """The float32 :class:`MiniLM` of ``model_dir``; ``weights``: a safetensors file of this
    module's own state dict (fine-tuned, see :mod:`knowledge.finetune`) to load instead."""
    from safetensors.torch import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    model = MiniLM(config)
    if weights is None:
        raw = load_file(str(model_dir / "model.safetensors"))
        model.load_state_dict(_state_dict(raw, int(config["num_hidden_layers"])))
    else:
        model.load_state_dict(load_file(str(weights)))
    return model


def load_tokenizer(model_dir: Path) -> Any:
    """The model's tokenizer, truncating at :data:`MAX_TOKENS`, without padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


class Encoder:
    """Tokenizer + :class:`MiniLM` loaded from a model folder; ``encode`` returns numpy.

    ``weights``: fine-tuned weights to run instead of the folder's own (see :func:`load_model`).
    """

    def __init__(self, model_dir: Path, *, bfloat16: bool, weights: Path | None = None) -> None:
        model = load_model(model_dir, weights)
        model.eval()
        self.model = model.to(torch.bfloat16) if bfloat16 else model
        self.tokenizer = load_tokenizer(model_dir)

    def encode(self, texts: list[str], batch_size: int = 32) -> NDArray[np.float32]:
        """Normalized sentence vectors, batched by length so little padding is computed."""
        encodings = self.tokenizer.encode_batch(texts)
        if len(texts) == 1:
            ids = torch.tensor([encodings[0].ids], dtype=torch.long)
            with torch.inference_mode():
                vector: NDArray[np.float32] = self.model(ids, torch.ones_like(ids)).numpy()
            return vector
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.model.word.embedding_dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                length = max(len(encodings[i].ids) for i in chunk)
                ids = torch.zeros((len(chunk), length), dtype=torch.long)
                attention = torch.zeros((len(chunk), length), dtype=torch.long)
                for row, i in enumerate(chunk):
                    n = len(encodings[i].ids)
                    ids[row, :n] = torch.tensor(encodings[i].ids)
                    attention[row, :n] = 1
                out[chunk] = self.model(ids, attention).numpy()
        return out


NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic: x86's AVX-512 BF16 and AMX,
Arm's BF16."""


def bfloat16_supported(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU runs bfloat16 matrix products natively (else they are emulated, slowly).

    oneDNN also says yes on AVX-512 CPUs without BF16 instructions, where it emulates them: a
    batch there takes three times as long as in float32. So on Linux the CPU's own flags
    decide too (``flags``: those to judge instead of this machine's)."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    known = cpu_flags() if flags is None else flags
    return known is None or bool(known & NATIVE_BF16_FLAGS)


def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` (``None`` where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None
