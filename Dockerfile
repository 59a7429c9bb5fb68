# riskstream worker / simulator image (for docker-compose.yml; not used by the tests).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
ENV RISKSTREAM_KAFKA_BROKERS=kafka:9092 \
    RISKSTREAM_REDIS_URL=redis://redis:6379/0
EXPOSE 6066
ENTRYPOINT ["riskstream"]
CMD ["worker"]
