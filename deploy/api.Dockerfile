# The API image: FastAPI + ONNX Runtime + Pillow/pydicom/matplotlib. No torch.
# Every package is requirements/api.lock's, hash-checked. The lock is the whole environment
# (--no-deps: pip resolves nothing by itself), and the project is built with the locked setuptools.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements/api.lock requirements/
RUN pip install --no-deps --require-hashes -r requirements/api.lock
ARG XAI_BUILD_COMMIT=unknown
ENV XAI_BUILD_COMMIT=${XAI_BUILD_COMMIT}
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps --no-build-isolation . \
 && pip check \
 && useradd --system --uid 10001 xai
USER xai
EXPOSE 8000
CMD ["xai", "serve"]
