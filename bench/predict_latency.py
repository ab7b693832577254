"""POST /v1/predictions over HTTP (PNG upload, preprocessing, inference, the Postgres
transaction and the publish to Redis included) versus the raw in-process ``session.run`` of the
same ResNet-18-class 224x224 model, measured side by side (alternating) in ONE run.

    .venv/bin/python -m bench.predict_latency [--requests 300]

Goal: p50 ratio <= 1.15.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from bench._stack import describe, percentile, running_stack
from services.api.core.runtime import session_options
from services.worker.demo.resnet import build_resnet18_bundle
from shared.bundles.registry import load_bundle
from shared.preprocess.image import prepare_image
from tests.support.inputs import png_bytes, radiograph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (both sides)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    bundle = load_bundle(build_resnet18_bundle(work / "bundles"))
    spec = bundle.manifest.input
    gray = (radiograph(224) * 255).astype(np.uint8)
    png = png_bytes(Image.fromarray(np.stack([gray] * 3, axis=-1)))
    tensor = prepare_image(png, spec, max_pixels=10**8).tensor  # type: ignore[arg-type]
    raw = ort.InferenceSession(
        bundle.read_model_bytes(), session_options(args.threads), providers=["CPUExecutionProvider"]
    )
    feeds = {bundle.manifest.input_name: tensor}
    outputs = [bundle.manifest.output.name]

    with running_stack(work / "bundles", work, ort_intra_op_threads=args.threads) as (client, _):
        form = {"model": bundle.name}  # default methods: jobs are recorded and published
        http_ms: list[float] = []
        raw_ms: list[float] = []
        server: dict[str, list[float]] = {}
        for i in range(args.warmup + args.requests):
            start = time.perf_counter()
            response = client.post("/v1/predictions", files={"file": ("x.png", png)}, data=form)
            elapsed_http = (time.perf_counter() - start) * 1000
            assert response.status_code == 201, response.text
            start = time.perf_counter()
            raw.run(outputs, feeds)
            elapsed_raw = (time.perf_counter() - start) * 1000
            if i >= args.warmup:
                http_ms.append(elapsed_http)
                raw_ms.append(elapsed_raw)
                for part in response.headers["server-timing"].split(","):
                    name, duration = part.strip().split(";dur=")
                    server.setdefault(name, []).append(float(duration))

    print(
        f"model {bundle.name}/{bundle.version} sha256 {bundle.sha256[:12]}…, "
        f"ORT {ort.__version__}, intra-op threads {args.threads}, PNG {len(png)} bytes"
    )
    print(describe("HTTP POST /v1/predictions", http_ms))
    print(describe("in-process session.run", raw_ms))
    parts = ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in server.items())
    print(f"server-side medians (ms): {parts}")
    p50 = statistics.median(http_ms) / statistics.median(raw_ms)
    p99 = percentile(http_ms, 99) / percentile(raw_ms, 99)
    print(f"ratio HTTP/raw: p50 {p50:.3f}  p99 {p99:.3f}  (goal p50 <= 1.15)")


if __name__ == "__main__":
    main()
