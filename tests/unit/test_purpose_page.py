"""The auditor page sends its stated purpose as the API reads it: ``purposeHeader`` in the
pages' ``api.js``, run in Node (the one Playwright ships with the test dependencies), gives for
any text a header value that :func:`services.api.core.purpose.decode_purpose` turns back into
exactly that text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import playwright

from services.api.core.purpose import decode_purpose

API_JS = Path(__file__).parents[2] / "services/api/pages/web/static/js/api.js"
NODE = Path(playwright.__file__).parent / "driver" / "node"
TEXTS = [
    "complaint 2026-114: review of the decision",
    "Beschwerde über die Entscheidung",
    "révision — 検査 (100 %) *quoted* 'single'",
    "utf-8'en'looks encoded",
    "🩺 cardiology, ärztliche Prüfung",
    "a%20b",
    "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
]


def _header_values(tmp_path: Path) -> list[str]:
    module = tmp_path / "api.mjs"
    shutil.copy(API_JS, module)
    script = (
        f"import {{ purposeHeader }} from {json.dumps(module.as_uri())};\n"
        f"console.log(JSON.stringify({json.dumps(TEXTS)}.map(purposeHeader)));\n"
    )
    done = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    values: list[str] = json.loads(done.stdout)
    return values


def test_every_purpose_the_page_sends_decodes_to_what_was_typed(tmp_path: Path) -> None:
    values = _header_values(tmp_path)
    for text, value in zip(TEXTS, values, strict=True):
        raw = value.encode("ascii")  # a header the browser sends as it is
        assert decode_purpose([raw]) == text, (text, value)
    assert values[0] == TEXTS[0]  # plain ASCII travels unchanged
    assert values[1].startswith("UTF-8''")
