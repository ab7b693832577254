# The worker image: CUDA torch, Captum, shap, onnxruntime-gpu. Falls back to the CPU.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
ARG XAI_BUILD_COMMIT=unknown
ENV XAI_BUILD_COMMIT=${XAI_BUILD_COMMIT}
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# torch comes from the base image (CUDA build); install the rest without replacing it.
RUN sed -i 's/"torch==2.13.0",//' pyproject.toml \
 && pip install '.[worker]' \
 && pip uninstall -y onnxruntime && pip install onnxruntime-gpu \
 && pip install --no-deps onnx2torch==1.5.15 \
 && useradd --system --uid 10001 xai
USER xai
CMD ["xai", "worker"]
