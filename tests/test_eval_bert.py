"""The numpy BERT forward pass against published reference values, and the fidelity metrics."""

import numpy as np
import pytest

from anspack.eval.bert import BertEncoder, default_model_dir
from anspack.eval.metrics import (embedding_fidelity, packaged_sentences, pairwise_upper, read_sentences,
                                  row_cosines, spearman)

SENTENCES = packaged_sentences()


@pytest.fixture(scope="module")
def encoder():
    return BertEncoder.from_pretrained()


def test_reference_similarities(encoder):
    # sentence-transformers quickstart values for all-MiniLM-L6-v2
    e = encoder.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    s = e @ e.T
    assert abs(s[0, 1] - 0.6660) < 1e-3
    assert abs(s[0, 2] - 0.1046) < 1e-3
    assert abs(s[1, 2] - 0.1411) < 1e-3


def test_batching_and_padding_do_not_change_embeddings(encoder):
    sents = read_sentences(SENTENCES)[:9]
    one_by_one = np.stack([encoder.encode(s)[0] for s in sents])
    batched = encoder.encode(sents, batch_size=4)
    np.testing.assert_allclose(batched, one_by_one, atol=2e-5)


def test_architecture_comes_from_config(encoder):
    w = {encoder.prefix + k: v for k, v in encoder.weights.items()}
    cfg = dict(encoder.config, num_hidden_layers=2)
    two = BertEncoder(w, cfg, encoder.tokenizer, pooling=encoder.pooling)
    e6 = encoder.encode("A man is playing a guitar.")
    e2 = two.encode("A man is playing a guitar.")
    assert 0.2 < float(e6[0] @ e2[0]) < 0.999  # a different (truncated) network, same shapes
    with pytest.raises(ValueError, match="hidden_act"):
        BertEncoder(w, dict(encoder.config, hidden_act="swish"), encoder.tokenizer)
    bad = dict(w)
    bad[encoder.prefix + "encoder.layer.0.intermediate.dense.weight"] = np.zeros((10, 384), np.float32)
    with pytest.raises(ValueError, match="intermediate.dense.weight"):
        BertEncoder(bad, encoder.config, encoder.tokenizer)
    del bad[encoder.prefix + "encoder.layer.1.output.dense.bias"]
    with pytest.raises(KeyError, match="layer.1.output.dense.bias"):
        BertEncoder(bad, encoder.config, encoder.tokenizer)


def test_with_weights_and_perturbation_lowers_fidelity(encoder):
    sents = read_sentences(SENTENCES)[:8]
    ref = encoder.encode(sents)
    w = {encoder.prefix + k: v.copy() for k, v in encoder.weights.items()}
    name = encoder.prefix + "encoder.layer.3.attention.self.value.weight"
    rng = np.random.default_rng(0)
    w[name] = w[name] + rng.normal(0, 0.3 * w[name].std(), w[name].shape).astype(np.float32)
    test = encoder.with_weights(w).encode(sents)
    f = embedding_fidelity(ref, test)
    assert 0.5 < f.min_cos <= f.mean_cos < 0.9999
    assert f.spearman < 1.0
    same = embedding_fidelity(ref, encoder.with_weights(dict(encoder.weights)).encode(sents))
    assert same.mean_cos > 0.999999 and same.spearman > 0.99999


def test_sentence_set_shipped():
    sents = read_sentences(SENTENCES)
    assert len(sents) >= 300 and len(set(sents)) == len(sents)
    from anspack.eval.calibration_text import BUILTIN_SENTENCES
    assert not set(sents) & set(BUILTIN_SENTENCES)  # calibration is held out from evaluation


def test_read_sentences_json(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('["a b", {"text": "c d"}, {"sentence": "e"}]')
    assert read_sentences(p) == ["a b", "c d", "e"]
    p.write_text('[1]')
    with pytest.raises(ValueError):
        read_sentences(p)


def test_metrics():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20, 8))
    b = a + rng.normal(scale=0.1, size=a.shape)
    c = row_cosines(a, b)
    assert np.all(c < 1) and np.all(c > 0.9)
    f = embedding_fidelity(a, b)
    assert f.min_cos == pytest.approx(c.min()) and f.mean_cos == pytest.approx(c.mean())
    assert 0.8 < f.spearman < 1.0
    assert spearman(np.arange(5.0), -np.arange(5.0)) == -1.0
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([3.0, 3.0, 5.0])) == 1.0
    assert pairwise_upper(a).shape == (190,)
    with pytest.raises(ValueError):
        row_cosines(a, b[:5])


def test_default_model_dir_is_local():
    d = default_model_dir()
    assert (d / "model.safetensors").exists() and (d / "tokenizer.json").exists()


def test_bert_task_cached_layers_match_full_forward(encoder):
    from anspack.eval.sensitivity import BertTask, perturbation_gains
    sents = read_sentences(SENTENCES)[:4]
    task = BertTask(encoder, sents, batch_size=3)
    assert task.distortion({}) == pytest.approx(0.0, abs=1e-6)
    name = encoder.prefix + "encoder.layer.4.attention.self.value.weight"
    rng = np.random.default_rng(3)
    noisy = task.weights[name] + rng.normal(0, 0.02, task.weights[name].shape).astype(np.float32)
    w = dict(task.weights)
    w[name] = noisy
    full = encoder.with_weights(w).encode(sents)
    fast = task.embeddings({name: noisy})
    np.testing.assert_allclose(fast, full, atol=1e-5)
    assert task.weights[name] is encoder.weights[name[len(encoder.prefix):]]  # restored after the pass
    g = perturbation_gains(task, [name, encoder.prefix + "encoder.layer.0.attention.self.key.bias"])
    assert g[name] > 0 and g[encoder.prefix + "encoder.layer.0.attention.self.key.bias"] < 1e-6 * g[name]
    H = task.gram(name)
    assert H.shape == (384, 384) and np.allclose(H, H.T)
    assert np.allclose(np.diag(H), task.input_moments()[name])
