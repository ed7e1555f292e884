# imagehost in a container:
#
#   docker build -t imagehost .
#   docker run -e API_SECRET_KEY=... -p 8080:8080 -v imagehost-data:/var/lib/imagehost imagehost
#
# Any Debian-based Python image (3.11 or later) works as the base: only its python3, the venv
# module and pip are used (scripts/docker-test.sh builds on a stand-in made with debootstrap).
ARG BASE_IMAGE=python:3.12-slim-bookworm

# --- build: wheels of imagehost and its runtime dependencies, installed into a venv ----------
FROM ${BASE_IMAGE} AS build
# The runtime extras in the image: swift (python-swiftclient) and celery (the job worker).
ARG EXTRAS=swift,celery
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# pip from the base's venv module (Debian's python3 has no pip of its own).
RUN python3 -m venv /opt/build
# The dependencies first, in a layer of their own: a change of the source alone reuses it.
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py "${EXTRAS}" >requirements.txt \
    && /opt/build/bin/pip wheel --quiet --wheel-dir /wheels -r requirements.txt
COPY README.md ./
COPY src/ src/
COPY docker/warm.py ./
# Bytecode only for what runs (docker/warm.py): a third of the venv's size otherwise.
RUN /opt/build/bin/pip wheel --quiet --no-deps --wheel-dir /wheels . \
    && python3 -m venv /opt/imagehost \
    && /opt/imagehost/bin/pip install --quiet --no-compile --no-index --find-links /wheels \
        "imagehost${EXTRAS:+[${EXTRAS}]}" \
    && /opt/imagehost/bin/pip uninstall --quiet --yes pip setuptools \
    && /opt/imagehost/bin/python warm.py

# --- runtime: the base, the venv and a non-root user ---------------------------------------
FROM ${BASE_IMAGE}
# Local storage, the disk cache and the SQLite catalog live in the volume; every setting can
# be overridden from the environment (STORAGE_BACKEND=s3, DATABASE_URL=postgresql://...).
ENV PATH=/opt/imagehost/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    TEMP_FOLDER=/var/lib/imagehost/temp \
    INCOMING_FOLDER=/var/lib/imagehost/incoming \
    ACTIVE_FOLDER=/var/lib/imagehost/active \
    CACHE_FOLDER=/var/lib/imagehost/cache \
    DISK_CACHE_FOLDER=/var/lib/imagehost/disk-cache \
    DATABASE_URL=sqlite:////var/lib/imagehost/imagehost.db
RUN useradd --user-group --uid 10001 --no-create-home --home-dir /var/lib/imagehost \
        --shell /usr/sbin/nologin imagehost \
    && mkdir -p /var/lib/imagehost \
    && chown imagehost:imagehost /var/lib/imagehost
COPY --from=build /opt/imagehost /opt/imagehost
# c2corg's commands (migrate, resize, resize_images) and the health check.
COPY docker/bin/ /usr/local/bin/
USER imagehost
WORKDIR /var/lib/imagehost
VOLUME /var/lib/imagehost
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["imagehost-healthcheck"]
CMD ["imagehost", "serve", "--host", "0.0.0.0", "--port", "8080"]
