# The API image: FastAPI + ONNX Runtime + Pillow/pydicom/matplotlib. No torch.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
ARG XAI_BUILD_COMMIT=unknown
ENV XAI_BUILD_COMMIT=${XAI_BUILD_COMMIT}
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install '.[api]' && useradd --system --uid 10001 xai
USER xai
EXPOSE 8000
CMD ["xai", "serve"]
