"""The worked plug-in example in docs/algorithms.md, installed as a package and run through discovery."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mlops.algorithms import AlgorithmRegistry, ModelBundle, TrainingContext

DOC = Path(__file__).resolve().parents[2] / "docs" / "algorithms.md"


def _example_source() -> str:
    text = DOC.read_text()
    after = text[text.index("`acme_algorithms/logistic.py`:") :]
    return re.search(r"```python\n(.*?)```", after, re.DOTALL).group(1)


def test_the_documented_plugin_is_discovered_trains_and_serves(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "acme_algorithms"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "logistic.py").write_text(_example_source())
    dist = tmp_path / "acme_algorithms-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-algorithms\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        '[mlops.algorithms]\nacme_logistic = "acme_algorithms.logistic:LogisticRegression"\n'.replace('"', "")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry = AlgorithmRegistry.discover()
        algorithm = registry.get("acme-logistic")
        params = registry.validate(algorithm.id, {}, preset="default")
        result = algorithm.train(algorithm.demo_dataset(), params, TrainingContext(seed=1, device="cpu"))
        assert result.metrics["accuracy"] >= 0.9
        predictor = registry.predictor(ModelBundle.from_zip(result.bundle.to_zip()), device="cpu")
        assert predictor.predict_one(algorithm.example_input())["label"] == "setosa"
    finally:
        for name in [n for n in sys.modules if n.startswith("acme_algorithms")]:
            sys.modules.pop(name)
