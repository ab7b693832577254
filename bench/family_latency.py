"""Predict and explain a model a hospital brings: DenseNet-121 224² (3 channels) and XGBoost
(500 trees), each admitted with ``xai models add``, through a real stack (API, Redis, Celery
worker, Postgres) side by side with the same work in-process, in ONE run.

    .venv/bin/python -m bench.family_latency [--families densenet121,xgboost] [--requests 50]
        [--n 3] [--parameters '{"integrated_gradients": {"n_steps": 32, "max_steps": 32}}']

Predict: ``POST /v1/predictions`` over HTTP (upload, preprocessing, inference, the Postgres
transaction and the publish included) alternated with the raw in-process ``session.run`` on the
same tensor, no worker running. Explain: for every method the admission offered, POST with that
method -> the job's ``finished_at`` (archived), the worker's own ``compute_ms``, and the
explainer called in-process on the same input with the worker's torch threads.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort

from bench._families import FAMILIES, SEED, SIZE, Family, tabular_data
from bench._stack import percentile, running_stack
from bench.admission import markdown_table, models_add
from services.admission import AdmissionReport
from services.admission.report import REPORT_FILE
from services.api.core.runtime import session_options
from services.worker.context import ModelCache, preload_libraries
from services.worker.explainers import LoadedModel, get_explainer
from shared.bundles.manifest import ImageInput, TabularInput
from shared.bundles.registry import Bundle, Registry, load_bundle
from shared.methods import METHODS
from shared.preprocess.image import prepare_image
from shared.preprocess.tabular import prepare_tabular

POLL_S = 0.05  # rare enough not to compete with the worker for the CPUs
PREDICT_COLUMNS = (
    "model", "HTTP p50 ms", "HTTP p95 ms", "session.run p50 ms", "session.run p95 ms",
    "p50 ratio", "HTTP − run ms", "server-timing p50 ms", "n",
)  # fmt: skip
EXPLAIN_COLUMNS = (
    "model", "method", "POST → archived s", "worker compute s", "in-process s",
    "archived / in-process", "archived − compute s", "n",
)  # fmt: skip


def image_png() -> bytes:
    """A smooth seeded RGB image, 224x224."""
    from PIL import Image

    coarse = np.random.default_rng(SEED).uniform(0, 255, size=(8, 8, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC).save(buffer, "PNG")
    return buffer.getvalue()


def request_for(bundle: Bundle) -> tuple[dict[str, Any], np.ndarray]:
    """httpx keyword arguments of ``POST /v1/predictions`` and the tensor the API feeds ORT."""
    spec = bundle.manifest.input
    if isinstance(spec, ImageInput):
        png = image_png()
        tensor = prepare_image(png, spec, max_pixels=10**8).tensor
        return {"files": {"file": ("x.png", png)}, "data": {"model": bundle.name}}, tensor
    assert isinstance(spec, TabularInput)
    x, _, names = tabular_data()
    features = dict(zip(names, x[0].tolist(), strict=True))
    tensor = prepare_tabular(features, spec).tensor
    return {"json": {"model": bundle.name, "features": features}}, tensor


def with_method(request: dict[str, Any], method: str, overrides: dict[str, Any]) -> dict[str, Any]:
    given = {method: overrides[method]} if method in overrides else None
    if "json" in request:
        body = {**request["json"], "methods": [method]}
        return {"json": body | ({"parameters": given} if given else {})}
    data = {**request["data"], "methods": method}
    return {**request, "data": data | ({"parameters": json.dumps(given)} if given else {})}


def explain_ms(
    model: LoadedModel, method: str, x: np.ndarray, target: int, given: dict[str, Any] | None
) -> float:
    """One in-process call of ``method``'s explainer, its parameters resolved as the API
    resolves the request's (not the job's record, which holds where an adaptive method ended)."""
    manifest = model.manifest
    parameters = METHODS[method].resolve(
        manifest, manifest.explanations.parameters.get(method), given
    )
    start = time.perf_counter()
    get_explainer(method).explain(model=model, x=x, target=target, parameters=parameters, seed=0)
    return (time.perf_counter() - start) * 1000


def predict(
    client: httpx.Client, bundle: Bundle, threads: int, requests: int, warmup: int
) -> list[str]:
    request, tensor = request_for(bundle)
    raw = ort.InferenceSession(
        bundle.read_model_bytes(), session_options(threads), providers=["CPUExecutionProvider"]
    )
    feeds = {bundle.manifest.input_name: tensor}
    outputs = [bundle.manifest.output.name]
    http_ms: list[float] = []
    raw_ms: list[float] = []
    server: dict[str, list[float]] = {}
    for i in range(warmup + requests):
        start = time.perf_counter()
        response = client.post("/v1/predictions", **request)
        elapsed_http = (time.perf_counter() - start) * 1000
        assert response.status_code == 201, response.text
        start = time.perf_counter()
        raw.run(outputs, feeds)
        elapsed_raw = (time.perf_counter() - start) * 1000
        if i >= warmup:
            http_ms.append(elapsed_http)
            raw_ms.append(elapsed_raw)
            for part in filter(None, response.headers.get("server-timing", "").split(",")):
                name, duration = part.strip().split(";dur=")
                server.setdefault(name, []).append(float(duration))
    http, own = statistics.median(http_ms), statistics.median(raw_ms)
    parts = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in server.items())
    return [
        bundle.name, f"{http:.1f}", f"{percentile(http_ms, 95):.1f}", f"{own:.1f}",
        f"{percentile(raw_ms, 95):.1f}", f"**{http / own:.2f}**", f"{http - own:.1f}", parts,
        str(requests),
    ]  # fmt: skip


def explain_through_stack(
    client: httpx.Client, request: dict[str, Any], n: int
) -> tuple[list[float], list[float], dict[str, Any]]:
    """``n`` jobs: POST -> archived ms, the worker's compute_ms, and the last job."""
    archived: list[float] = []
    compute: list[float] = []
    job: dict[str, Any] = {}
    for _ in range(n):
        start_wall = time.time()
        response = client.post("/v1/predictions", **request)
        assert response.status_code == 201, response.text
        link = response.json()["explanations"][0]["links"]["self"]
        while (job := client.get(link).json())["status"] not in ("succeeded", "failed"):
            time.sleep(POLL_S)
        assert job["status"] == "succeeded", job
        finished = datetime.fromisoformat(job["timings"]["finished_at"]).timestamp()
        archived.append((finished - start_wall) * 1000)
        compute.append(job["result"]["compute_ms"])
    return archived, compute, job


def explain_in_process(
    admitted: dict[str, tuple[Bundle, tuple[str, ...]]],
    cheapest: dict[str, str],
    through: dict[tuple[str, str], tuple[list[float], list[float], dict[str, Any]]],
    bundles: Path,
    overrides: dict[str, Any],
    n: int,
) -> list[list[str]]:
    """Each method's explainer in-process, as the worker runs it; one row per method."""
    import torch

    threads = torch.get_num_threads()
    preload_libraries()  # as the worker's parent does before it forks
    cache = ModelCache(registry=Registry.scan(bundles), device="cpu", threads=threads)
    rows: list[list[str]] = []
    for bundle, methods in admitted.values():
        model = cache.load(name=bundle.name, version=bundle.version, sha256=bundle.sha256)
        _, x = request_for(bundle)
        first = cheapest[bundle.name]
        explain_ms(model, first, x, through[bundle.name, first][2]["target"], overrides.get(first))
        for method in methods:
            archived, compute, job = through[bundle.name, method]
            given = overrides.get(method)
            own = [explain_ms(model, method, x, job["target"], given) for _ in range(n)]
            ran = job["result"]["parameters"]
            steps = f", n_steps {ran['n_steps']}" if "n_steps" in ran else ""
            overhead = statistics.median(a - c for a, c in zip(archived, compute, strict=True))
            rows.append(
                [
                    bundle.name, f"{method}{steps}", _s(archived), _s(compute), _s(own),
                    f"**{statistics.median(archived) / statistics.median(own):.2f}**",
                    f"{overhead / 1000:.2f}", str(n),
                ]
            )  # fmt: skip
    return rows


def admitted_report(family: Family, work: Path, bundles: Path) -> AdmissionReport:
    """The family's admission report: read from ``bundles`` when admitted there already, else
    from ``xai models add`` into it."""
    report = bundles / family.name / "v1" / REPORT_FILE
    if report.is_file():
        return AdmissionReport.model_validate_json(report.read_text())
    return models_add(family, family.build(work, "legacy-17"), bundles).report


def _s(values: list[float]) -> str:
    return f"{statistics.median(values) / 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", default="densenet121,xgboost", help="comma-separated")
    parser.add_argument("--requests", type=int, default=50, help="predictions per model")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--n", type=int, default=3, help="explanations per method (each side)")
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (API)")
    parser.add_argument("--parameters", default="{}", help="JSON {method: {name: value}}")
    parser.add_argument(
        "--bundles", type=Path, help="a bundles folder: models admitted there before are reused"
    )
    args = parser.parse_args()
    overrides: dict[str, Any] = json.loads(args.parameters)

    work = Path(tempfile.mkdtemp(prefix="bench-family-"))
    bundles = args.bundles or work / "bundles"
    admitted: dict[str, tuple[Bundle, tuple[str, ...]]] = {}
    cheapest: dict[str, str] = {}  # the quickest method at admission: warms each side up
    for name in args.families.split(","):
        report = admitted_report(FAMILIES[name], work, bundles)
        assert report.passed, report.failure()
        admitted[name] = (load_bundle(bundles / name / "v1"), report.available_methods)
        cheapest[name] = min((m for m in report.methods if m.available), key=lambda m: m.ms).method
        print(f"{name} admitted in {report.total_ms / 1000:.1f} s: {report.available_methods}")

    for logs in ("predict", "explain"):
        (work / logs).mkdir()
    with running_stack(bundles, work / "predict", ort_intra_op_threads=args.threads) as stack:
        client, _ = stack
        predicted = [
            predict(client, bundle, args.threads, args.requests, args.warmup)
            for bundle, _ in admitted.values()
        ]

    through: dict[tuple[str, str], tuple[list[float], list[float], dict[str, Any]]] = {}
    with running_stack(bundles, work / "explain", worker=True) as (client, settings):
        for bundle, methods in admitted.values():
            request, _ = request_for(bundle)
            explain_through_stack(client, with_method(request, cheapest[bundle.name], overrides), 1)
            for method in methods:
                through[bundle.name, method] = explain_through_stack(
                    client, with_method(request, method, overrides), args.n
                )
        torch_threads = settings.worker_torch_threads

    import torch

    torch.set_num_threads(torch_threads)  # the worker's own setting: like-for-like

    explained = explain_in_process(admitted, cheapest, through, bundles, overrides, args.n)
    import torch

    print(
        f"\nORT {ort.__version__} ({args.threads} intra-op thread(s) in the API), torch "
        f"{torch.__version__} ({torch_threads} thread(s) in the worker and in-process); "
        f"parameter overrides {overrides or 'none'}\n"
    )
    print(markdown_table(PREDICT_COLUMNS, predicted))
    print()
    print(markdown_table(EXPLAIN_COLUMNS, explained))


if __name__ == "__main__":
    main()
