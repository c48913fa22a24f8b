"""Scores of a config on the gold set, all three splits from one pipeline run, as JSON.

`harken rules test --gold` does the same for one split; this script exists for measuring code
that has no `--gold` option yet (BASELINE.md): put harken/reports/gold.py and
harken/pipeline/gold.py beside that code and run it with PYTHONPATH pointing there.
`--strip-new-keys` drops the config keys older code does not know (accounts:,
routing.impersonation).

    python bench/data/gold/measure.py [--strip-new-keys] CONFIG POSTS OUT.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from harken.config import load_config
from harken.pipeline.gold import predict, score_split
from harken.reports.gold import SPLITS, read_gold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("posts", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--strip-new-keys", action="store_true")
    args = parser.parse_args()
    config_path = args.config
    with tempfile.TemporaryDirectory() as directory:
        if args.strip_new_keys:
            raw = yaml.safe_load(args.config.read_text(encoding="utf-8"))
            raw.pop("accounts", None)
            raw.get("routing", {}).pop("impersonation", None)
            config_path = Path(directory) / "config.yaml"
            config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        config = load_config(config_path, environ={})
    posts = read_gold(args.posts)
    started = time.monotonic()
    predictions = predict(config, posts)
    found: dict[str, object] = {
        split: asdict(score_split(config, posts, predictions, split)) for split in SPLITS
    }
    found["seconds"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(found, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"{len(posts)} posts in {found['seconds']}s -> {args.out}")


if __name__ == "__main__":
    main()
