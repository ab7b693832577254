# The worker image: CUDA torch, Captum, shap, onnxruntime-gpu. Falls back to the CPU by itself.
# Every package is requirements/gpu.lock's, hash-checked, installed with --no-deps (the lock is the
# whole environment). That lock is the [worker] extra resolved on PyPI alone, so torch is
# torch==2.13.0 as PyPI builds it for Linux (CUDA; the CUDA libraries are nvidia-* wheels in the
# lock, so the base image needs none) and ONNX Runtime is onnxruntime-gpu at the release of the
# CPU onnxruntime the tests run. tests/unit/test_lock.py holds both to requirements/dev.lock.
# Left out on purpose: torchvision (onnx2torch asks for it; services/worker/twin stands in).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements/gpu.lock requirements/
RUN pip install --no-deps --require-hashes -r requirements/gpu.lock
ARG XAI_BUILD_COMMIT=unknown
ENV XAI_BUILD_COMMIT=${XAI_BUILD_COMMIT}
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps --no-build-isolation . \
 && ! pip check | grep -v -E '^onnx2torch [^ ]+ requires torchvision, which is not installed\.$' \
 && useradd --system --uid 10001 xai
USER xai
CMD ["xai", "worker"]
