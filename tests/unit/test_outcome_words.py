"""The pages' outcome in words (``outcome.js``, run in Node as the browser runs it): where a
value lies against its reference range, and the one-line summary of each output mode, for
outcomes as ``shared.bundles.outcome.read_outcome`` writes them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import playwright

from shared.bundles.manifest import Output
from shared.bundles.outcome import read_outcome

JS = Path(__file__).parents[2] / "services/api/pages/web/static/js"
NODE = Path(playwright.__file__).parent / "driver" / "node"
RISK = Output(
    name="y",
    kind="value",
    mode="regression",
    labels=("risk",),
    unit="points",
    reference_range=(80.0, 160.0),
)
FINDINGS = Output(
    name="y", kind="probabilities", mode="multi-label", labels=("a", "b", "c"),
    thresholds=(0.5, 0.6, 0.3),
)  # fmt: skip


def _in_node(tmp_path: Path, calls: list[tuple[str, dict[str, object]]]) -> list[str]:
    for name in ("outcome.js", "dom.js"):
        shutil.copy(JS / name, tmp_path / name)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    script = (
        f"import * as words from {json.dumps((tmp_path / 'outcome.js').as_uri())};\n"
        f"const calls = {json.dumps(calls)};\n"
        "console.log(JSON.stringify(calls.map(([f, outcome]) => words[f](outcome))));\n"
    )
    done = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    said: list[str] = json.loads(done.stdout)
    return said


def _risk(value: float, output: Output = RISK) -> dict[str, object]:
    return read_outcome(np.array([[value]]), output).recorded()


def test_a_value_is_placed_against_its_range_in_words(tmp_path: Path) -> None:
    no_range = Output(name="y", kind="value", mode="regression", labels=("risk",), unit="points")
    said = _in_node(
        tmp_path,
        [
            ("rangeWords", _risk(80.0)),  # the ends belong to the range
            ("rangeWords", _risk(160.0)),
            ("rangeWords", _risk(160.5)),
            ("rangeWords", _risk(-3.25)),
            ("rangeWords", _risk(100.0, no_range)),
            ("outcomeLine", _risk(123.456)),
        ],
    )
    assert said == [
        "Inside the reference range (80 points to 160 points).",
        "Inside the reference range (80 points to 160 points).",
        "Outside the reference range: above 80 points to 160 points.",
        "Outside the reference range: below 80 points to 160 points.",
        "No reference range is given for this model.",
        "risk 123.5 points",
    ]


def test_findings_in_one_line_name_the_positive_ones_most_probable_first(tmp_path: Path) -> None:
    both = read_outcome(np.array([[0.55, 0.9, 0.3]]), FINDINGS).recorded()  # c: at threshold
    none = read_outcome(np.array([[0.49, 0.59, 0.29]]), FINDINGS).recorded()
    said = _in_node(tmp_path, [("outcomeLine", both), ("outcomeLine", none)])
    assert said == ["positive: b, a, c", "no positive finding"]
