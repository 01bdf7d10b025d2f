"""Classification metrics of deployed and float nets: accuracy, NLL, ECE."""
from __future__ import annotations

import numpy as np

ECE_BINS = 15  # equal-width confidence bins (Guo et al., ICML 2017)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def scores(probs: np.ndarray, labels: np.ndarray) -> dict:
    """accuracy, NLL (mean -log p of the true class) and ECE of class probabilities [B, n]."""
    labels = np.asarray(labels)
    pred = probs.argmax(axis=1)
    p_true = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {"accuracy": float(np.mean(pred == labels)), "nll": float(-np.mean(np.log(p_true))),
            "ece": ece(probs, labels)}


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(np.mean(pred[inside] == labels[inside]) - conf[inside].mean())
    return float(total)
