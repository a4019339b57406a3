"""Evaluation metrics shared by the scenarios (numpy only, so serving code never needs scikit-learn)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    matrix = confusion_matrix(truth, predicted, classes)
    true_positive = np.diag(matrix).astype(np.float64)
    predicted_count = matrix.sum(axis=0)
    actual_count = matrix.sum(axis=1)
    precision = np.divide(true_positive, predicted_count, out=np.zeros(classes), where=predicted_count > 0)
    recall = np.divide(true_positive, actual_count, out=np.zeros(classes), where=actual_count > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(classes), where=denominator > 0)
    present = actual_count > 0
    return {
        "accuracy": float(true_positive.sum() / max(len(truth), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
    }


def per_class_report(
    truth: np.ndarray, predicted: np.ndarray, labels: list[str]
) -> list[dict[str, float | str]]:
    matrix = confusion_matrix(truth, predicted, len(labels))
    rows: list[dict[str, float | str]] = []
    for index, label in enumerate(labels):
        tp = float(matrix[index, index])
        precision = tp / matrix[:, index].sum() if matrix[:, index].sum() else 0.0
        recall = tp / matrix[index].sum() if matrix[index].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "label": label,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": float(matrix[index].sum()),
            }
        )
    return rows


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    truth = truth.astype(bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[truth].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def binary_f1(truth: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    truth, flags = truth.astype(bool), flags.astype(bool)
    tp = float((truth & flags).sum())
    precision = tp / flags.sum() if flags.sum() else 0.0
    recall = tp / truth.sum() if truth.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def best_f1_threshold(truth: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (flag when score > threshold) that maximises F1 on labelled data."""
    order = np.argsort(-scores, kind="stable")
    sorted_truth = truth.astype(bool)[order]
    tp = np.cumsum(sorted_truth)
    flagged = np.arange(1, len(scores) + 1)
    f1 = 2 * tp / (flagged + sorted_truth.sum())
    best = int(np.argmax(f1))
    # Halfway to the next lower score, so equal scores on both paths flag alike.
    below = scores[order[best + 1]] if best + 1 < len(scores) else scores[order[best]] - 1.0
    return float((scores[order[best]] + below) / 2.0)


def adjusted_rand_index(truth: list[str] | np.ndarray, predicted: np.ndarray) -> float:
    _, truth_ids = np.unique(np.asarray(truth), return_inverse=True)
    _, predicted_ids = np.unique(np.asarray(predicted), return_inverse=True)
    table = np.zeros((truth_ids.max() + 1, predicted_ids.max() + 1), dtype=np.float64)
    np.add.at(table, (truth_ids, predicted_ids), 1)

    def pairs(values: np.ndarray) -> float:
        return float((values * (values - 1) / 2).sum())

    index, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total = len(truth_ids) * (len(truth_ids) - 1) / 2
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    return 1.0 if maximum == expected else float((index - expected) / (maximum - expected))


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP (PASCAL VOC 2010+)."""
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    changes = np.flatnonzero(recall[1:] != recall[:-1])
    return float(((recall[changes + 1] - recall[changes]) * precision[changes + 1]).sum())


def mean_average_precision(
    truth: list[list[tuple[str, list[float]]]],
    detections: list[list[tuple[str, float, list[float]]]],
    labels: list[str],
    iou_threshold: float = 0.5,
) -> dict[str, float]:
    """mAP at one IoU threshold over images; truth and detections are per image (label, [score,] box)."""
    per_class: dict[str, float] = {}
    for label in labels:
        truths = {
            i: np.asarray([b for name, b in image if name == label]).reshape(-1, 4)
            for i, image in enumerate(truth)
        }
        matched = {i: np.zeros(len(t), dtype=bool) for i, t in truths.items()}
        found = sorted(
            (
                (score, i, box)
                for i, image in enumerate(detections)
                for name, score, box in image
                if name == label
            ),
            key=lambda d: (-d[0], d[1]),
        )
        total = sum(len(t) for t in truths.values())
        if total == 0:
            continue
        hits = np.zeros(len(found))
        for rank, (_, image, box) in enumerate(found):
            candidates = truths[image]
            if len(candidates) == 0:
                continue
            overlaps = box_iou(np.asarray(box), candidates)
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold and not matched[image][best]:
                matched[image][best] = True
                hits[rank] = 1
        true_positives = np.cumsum(hits)
        recall = true_positives / total
        precision = true_positives / np.arange(1, len(found) + 1)
        per_class[label] = average_precision(recall, precision) if len(found) else 0.0
    result = {f"ap_{label}": value for label, value in per_class.items()}
    result["map_50"] = float(np.mean(list(per_class.values()))) if per_class else 0.0
    return result


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (others[:, 2] - others[:, 0]) * (
        others[:, 3] - others[:, 1]
    )
    return inter / np.maximum(union - inter, 1e-9)


def roc_curve(truth: np.ndarray, scores: np.ndarray, points: int = 50) -> dict[str, list[float]]:
    """False and true positive rates at `points` score quantiles, for the console's ROC plot."""
    truth = truth.astype(bool)
    thresholds = np.unique(np.quantile(scores, np.linspace(0, 1, points)))[::-1]
    positives, negatives = max(int(truth.sum()), 1), max(int((~truth).sum()), 1)
    fpr = [float(((scores >= t) & ~truth).sum() / negatives) for t in thresholds]
    tpr = [float(((scores >= t) & truth).sum() / positives) for t in thresholds]
    return {"threshold": [float(t) for t in thresholds], "fpr": fpr, "tpr": tpr}
