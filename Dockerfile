# admit's image: `admit manifests` and the Helm chart run it as
#   admit serve /etc/admit/bundle --tls-cert ... --tls-key ... --port 8443
# as user 65532 on a read-only root filesystem (the pod mounts an emptyDir at /tmp).
#
#   docker build -t ghcr.io/admit-dev/admit:0.1.0 .

# Build stage: compilers and pip stay here; only the virtual environment moves on.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/admit \
 && /opt/admit/bin/pip install . \
 && /opt/admit/bin/admit --version

# Run stage: the same base (the venv's interpreter path must exist), no build tools, non-root.
# `sleep` (coreutils) must stay: the pod's preStop hook runs it.
FROM python:3.11-slim
COPY --from=build /opt/admit /opt/admit
ENV PATH=/opt/admit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The bundle directory is a read-only ConfigMap mount: nothing may try to write beside it.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8443 6060
ENTRYPOINT ["admit"]
CMD ["--help"]
