FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectnow ./connectnow
COPY handlers ./handlers
COPY models ./models
# The web client at / loads the JavaScript client library through a link into clients/js.
COPY clients/js/src ./clients/js/src
RUN pip install --no-cache-dir .
ENV CONNECTNOW_HOST=0.0.0.0 CONNECTNOW_PORT=8000 CONNECTNOW_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["connectnow", "serve"]
