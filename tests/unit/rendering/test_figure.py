import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from shared.rendering.waterfall import render_waterfall


def test_import_is_light_and_rendering_never_touches_pyplot():
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import shared.rendering as rendering
        assert "matplotlib" not in sys.modules, "matplotlib imported at import time"
        rendering.render_waterfall(np.ones(3), list("abc"), np.zeros(3), 0.0)
        rendering.render_summary(np.ones((4, 3)), np.zeros((4, 3)), list("abc"))
        rendering.render_heatmap(
            np.zeros((8, 8)), np.ones((8, 8)), rendering.HeatmapOptions(colorbar=True)
        )
        assert "matplotlib" in sys.modules
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        """
    )
    subprocess.run(
        [sys.executable, "-c", script], check=True, timeout=60, cwd=Path(__file__).parents[3]
    )


def test_concurrent_renderings_equal_sequential_ones():
    rng = np.random.default_rng(0)
    cases = [rng.normal(size=6) for _ in range(6)]
    names = [f"feature {i}" for i in range(6)]

    def render(values: np.ndarray) -> bytes:
        return render_waterfall(values, names, np.arange(6.0), 0.1)

    sequential = [render(values) for values in cases]
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(render, cases)) == sequential
