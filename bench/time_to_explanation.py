"""End to end, POST /v1/predictions -> explanation ``succeeded`` (real API, Redis, Celery worker
and Postgres), versus the explainer's own compute time on the same input, in ONE run.

    .venv/bin/python -m bench.time_to_explanation [--method integrated_gradients] [--n 30]

Goal: ratio <= 1.10 for Integrated Gradients on the demo CNN.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import onnxruntime as ort

from bench._stack import describe, running_stack
from services.worker.demo.build import build_demo_bundles
from services.worker.explainers import LoadedModel, get_explainer
from services.worker.twin import load_twin
from shared.bundles.registry import Registry
from shared.methods import METHODS
from shared.preprocess.image import prepare_image

# The client polls the job every POLL_S: often enough for the client-observed figure, rarely
# enough that the polling itself (each poll authenticates and reads the job: two queries) does
# not compete with the worker for this machine's two cores.
POLL_S = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="integrated_gradients")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bundles", type=Path, help="existing demo bundles (else built)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-tte-"))
    bundles = args.bundles or work / "bundles"
    if args.bundles is None:
        build_demo_bundles(bundles, log=lambda _: None)
    bundle = Registry.scan(bundles).get("chest-xray-demo", "clean")
    png = (bundle.path / "examples" / "positive.png").read_bytes()

    client_ms: list[float] = []
    archive_ms: list[float] = []
    worker_compute_ms: list[float] = []
    with running_stack(bundles, work, worker=True) as (client, settings):
        for i in range(args.warmup + args.n):
            start_wall, start = time.time(), time.perf_counter()
            body = client.post(
                "/v1/predictions",
                files={"file": ("x.png", png)},
                data={"model": bundle.name, "version": bundle.version, "methods": args.method},
            ).json()
            link = body["explanations"][0]["links"]["self"]
            while (job := client.get(link).json())["status"] not in ("succeeded", "failed"):
                time.sleep(POLL_S)
            assert job["status"] == "succeeded", job
            if i >= args.warmup:
                client_ms.append((time.perf_counter() - start) * 1000)
                finished = datetime.fromisoformat(job["timings"]["finished_at"]).timestamp()
                archive_ms.append((finished - start_wall) * 1000)
                worker_compute_ms.append(job["result"]["compute_ms"])
        parameters = job["parameters"]
        torch_threads = settings.worker_torch_threads

    import torch

    torch.set_num_threads(torch_threads)  # the worker's own setting: a like-for-like compute time
    model_bytes = bundle.read_model_bytes()
    model = LoadedModel(
        bundle=bundle, session=ort.InferenceSession(model_bytes), twin=load_twin(model_bytes)
    )
    x = prepare_image(png, bundle.manifest.input, max_pixels=10**7).tensor  # type: ignore[arg-type]
    explainer = get_explainer(args.method)
    resolved = METHODS[args.method].resolve(bundle.manifest, parameters)
    own_ms = []
    for i in range(args.warmup + args.n):
        start = time.perf_counter()
        explainer.explain(model=model, x=x, target=1, parameters=resolved, seed=0)
        if i >= args.warmup:
            own_ms.append((time.perf_counter() - start) * 1000)

    print(
        f"{args.method} on {bundle.name}/{bundle.version}, parameters {parameters}, "
        f"torch threads {torch_threads}"
    )
    print(describe("POST -> succeeded (client polling)", client_ms))
    print(describe("POST -> archived (finished_at)", archive_ms))
    print(describe("explainer inside the worker", worker_compute_ms))
    print(describe("explainer in-process, same input", own_ms))
    ratio = statistics.median(archive_ms) / statistics.median(own_ms)
    ratio_client = statistics.median(client_ms) / statistics.median(own_ms)
    print(
        f"ratio end-to-end / explainer: archived {ratio:.2f}, client-observed "
        f"{ratio_client:.2f}  (goal <= 1.10)"
    )


if __name__ == "__main__":
    main()
