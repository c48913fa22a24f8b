"""What a training run reports: its validation table, and the ``trained`` record of heads.json."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from harken.classify.training.data import FILES, LICENSES, dataset_of
from harken.classify.training.fit import SPECS, Fitted


def counts(df: pd.DataFrame) -> dict[str, Any]:
    """Row counts of a head's data per split, source and label (for heads.json)."""
    out: dict[str, Any] = {}
    for split, part in df.groupby("split"):
        out[str(split)] = {
            "rows": len(part),
            "labels": {
                str(k): int(v) for k, v in part["label"].value_counts().sort_index().items()
            },
            "sources": {
                str(s): {str(k): int(v) for k, v in g["label"].value_counts().sort_index().items()}
                for s, g in part.groupby("source")
            },
        }
    return out


def table(validation: dict[str, dict[str, Any]]) -> str:
    header = f"{'head / set':<34}{'n':>7}{'macroR':>8}{'macroF1':>8}{'acc':>7}{'AUC':>7}"
    lines = [header, "-" * len(header)]
    for head, sets in validation.items():
        for name, m in sets.items():
            if not isinstance(m, dict) or "macro_recall" not in m:
                continue
            auc = f"{m['roc_auc']:.3f}" if "roc_auc" in m else "-"
            lines.append(
                f"{head + ' / ' + name:<34}{m['n']:>7}{m['macro_recall']:>8.3f}"
                f"{m['macro_f1']:>8.3f}{m['accuracy']:>7.3f}{auc:>7}"
            )
            for label, c in m["per_class"].items():
                lines.append(
                    f"{'    ' + label:<34}{c['n']:>7}  P {c['precision']:.3f}  R {c['recall']:.3f}"
                    f"  F1 {c['f1']:.3f}"
                )
    return "\n".join(lines)


def training_record(
    args: argparse.Namespace, rows: dict[str, pd.DataFrame], fitted: dict[str, Fitted]
) -> dict[str, Any]:
    import sklearn

    sources = sorted({dataset_of(s) for df in rows.values() for s in df["source"].unique()})
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python -m harken.classify.training.train " + " ".join(sys.argv[1:]),
        "encoder": args.model,
        "seed": args.seed,
        "limit": args.limit,
        "data_dir": str(args.data),
        "data_files": {s: {"path": FILES[s], "license": LICENSES[s]} for s in sources},
        "preprocess": "harken.classify.preprocess: strip_retweet_prefix, then clean_text",
        "sklearn": sklearn.__version__,
        "heads": {
            name: {
                "sources": list(args.sentiment_sources)
                if name == "sentiment"
                else list(args.abuse_sources)
                if name == "abuse"
                else sorted(df["source"].unique()),
                "C": fitted[name].c,
                "class_weight": SPECS[name].class_weight
                or ("equal per (style, label) cell" if SPECS[name].balance_cells else None),
                "rows": counts(df),
            }
            for name, df in rows.items()
        },
    }
