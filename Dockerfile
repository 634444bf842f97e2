# The Calls API server: python -m callstate serve, on 0.0.0.0:8080, as a non-root user.
#   docker build -t callstate .
#   docker run -p 8080:8080 callstate                     # the demo center
#   docker run -p 8080:8080 -v "$PWD/examples:/config:ro" callstate \
#       python -m callstate serve --host 0.0.0.0 --config /config/center.json
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir '.[server]' \
    && useradd --create-home --uid 10001 callstate \
    && chown -R callstate /app

USER callstate
EXPOSE 8080
CMD ["python", "-m", "callstate", "serve", "--host", "0.0.0.0"]
