"""Integrated Gradients on the demo-sized CNN: all ``n_steps`` in one batch vs chunks.

Run from the repository root: ``.venv/bin/python -m bench.ig_batching [--repeats 7]``.
On a CPU shared with other processes pass ``--threads 1``: two threads on two busy cores
oversubscribe and the timings become noise.

The model is a stand-in for the chest X-ray demo CNN (same layers as
``services.worker.demo.cnn.SmallCnn``: four conv3x3-BN-ReLU blocks of widths 16/32/32/32,
three of stride 2, GAP, ``Linear(32, 2)``; 1x128x128 input) with random weights, exported to
ONNX and converted back with :func:`services.worker.twin.load_twin`, the path the worker uses.

Time: median wall time of Captum's ``IntegratedGradients.attribute`` per internal batch size,
the variants interleaved round-robin in one process so that load on the shared CPU hits all
of them alike. Memory: ``tracemalloc`` does not see torch's allocations, so each variant runs
once more in a fresh subprocess that reads its peak resident set after loading the twin and
one forward pass, then after IG; the increase is the extra peak memory IG took. The peak is
Linux's ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` would not do, as
a child starts with its parent's peak (it survives fork and exec).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZE = 128
DEMO_MEAN, DEMO_STD = 0.28, 0.22
ALL_IN_ONE = 0  # stands for internal_batch_size=None on the command line


def build_model(path: Path) -> None:
    """Export the random-weight stand-in of the demo CNN to ``path`` (legacy exporter, 17)."""
    import warnings

    import torch
    from torch import nn

    torch.manual_seed(0)
    layers: list[nn.Module] = []
    channels = 1
    for index, width in enumerate((16, 32, 32, 32)):
        stride = 2 if index < 3 else 1
        conv = nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False)
        layers += [conv, nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 2))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model.eval(), (torch.zeros(1, 1, SIZE, SIZE),), buffer, dynamo=False,
            opset_version=17, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )  # fmt: skip
    path.write_bytes(buffer.getvalue())


def _setup(model_path: Path) -> Callable[[int, int], None]:
    """``attribute(internal_batch_size, n_steps)`` on a fixed input (0: all steps at once)."""
    import torch
    from captum.attr import IntegratedGradients

    from services.worker.twin import load_twin

    twin = load_twin(model_path.read_bytes())
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 1, SIZE, SIZE, generator=generator)
    baseline = torch.full_like(x, (0.0 - DEMO_MEAN) / DEMO_STD)
    ig = IntegratedGradients(twin)
    with torch.no_grad():
        twin(x)

    def attribute(batch_size: int, n_steps: int) -> None:
        ig.attribute(
            x, baselines=baseline, target=1, n_steps=n_steps, method="gausslegendre",
            internal_batch_size=batch_size or None,
        )  # fmt: skip

    return attribute


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: this measurement needs Linux")


def memory_probe(model_path: Path, batch_size: int, n_steps: int) -> None:
    """In a fresh process: print the peak RSS before and after one IG run, in KiB."""
    attribute = _setup(model_path)
    before = _peak_rss_kib()
    attribute(batch_size, n_steps)
    print(json.dumps({"before_kib": before, "after_kib": _peak_rss_kib()}))


def _extra_peak_mib(model_path: Path, batch_size: int, n_steps: int, threads: int) -> float:
    command = [sys.executable, "-m", "bench.ig_batching", "--model", str(model_path),
               "--probe", str(batch_size), "--n-steps", str(n_steps),
               "--threads", str(threads)]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    output = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True)
    probe = json.loads(output.stdout.strip().splitlines()[-1])
    return (probe["after_kib"] - probe["before_kib"]) / 1024


def _time_round_robin(
    attribute: Callable[[int, int], None], variants: list[int], n_steps: int, repeats: int
) -> dict[int, list[float]]:
    times: dict[int, list[float]] = {v: [] for v in variants}
    for variant in variants:  # warm-up
        attribute(variant, n_steps)
    for _ in range(repeats):
        for variant in variants:
            start = time.perf_counter()
            attribute(variant, n_steps)
            times[variant].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n-steps", type=int, default=None, help="default: the explainer's")
    parser.add_argument("--sizes", type=int, nargs="*", default=[4, 16], help="more to compare")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    from shared.methods.integrated_gradients import (
        INTERNAL_BATCH_SIZE,
        IntegratedGradientsParameters,
    )

    n_steps = args.n_steps or IntegratedGradientsParameters().n_steps
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe is not None:
        memory_probe(args.model, args.probe, n_steps)
        return
    chosen = INTERNAL_BATCH_SIZE
    variants = [ALL_IN_ONE, chosen, *sorted(set(args.sizes) - {ALL_IN_ONE, chosen})]
    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "model.onnx"
        build_model(model_path)
        times = _time_round_robin(_setup(model_path), variants, n_steps, args.repeats)
        threads = torch.get_num_threads()
        memory = {v: _extra_peak_mib(model_path, v, n_steps, threads) for v in variants}

    print(f"IG, n_steps={n_steps}, 1x{SIZE}x{SIZE} demo-sized CNN, "
          f"torch threads={torch.get_num_threads()}, median of {args.repeats}")  # fmt: skip
    print(f"{'internal_batch_size':>22} {'median ms':>10} {'min ms':>8} {'extra peak RSS MiB':>19}")
    for variant in variants:
        label = f"None (all {n_steps})" if variant == ALL_IN_ONE else str(variant)
        if variant == chosen:
            label += " (chosen)"
        median, best = statistics.median(times[variant]) * 1e3, min(times[variant]) * 1e3
        print(f"{label:>22} {median:>10.1f} {best:>8.1f} {memory[variant]:>19.1f}")
    time_ratio = statistics.median(times[ALL_IN_ONE]) / statistics.median(times[chosen])
    memory_ratio = memory[ALL_IN_ONE] / max(memory[chosen], 1e-9)
    print(f"ratio all-in-one / chunks of {chosen}: time {time_ratio:.2f}x, "
          f"extra peak memory {memory_ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
