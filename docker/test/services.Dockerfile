# Stand-ins for the stack's PostgreSQL, Redis and S3 store (Swift with its S3 API), from
# Debian's packages on the debootstrap base, each run by the project's own service script
# (scripts/services/<name>.sh) on loopback: docker-compose.test.yml uses it.
ARG BASE_IMAGE=imagehost-base:test
FROM ${BASE_IMAGE}
# No daemon starts at install, and PostgreSQL makes no cluster: the scripts make their own.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/none.conf \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        procps postgresql redis-server memcached python3-swiftclient \
        swift swift-proxy swift-account swift-container swift-object python3-swift \
        >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/services/ /opt/services/
COPY docker/test/run-service.sh /opt/services/
ENV IMAGEHOST_SERVICES_DIR=/srv/services
VOLUME /srv/services
ENTRYPOINT ["/opt/services/run-service.sh"]
