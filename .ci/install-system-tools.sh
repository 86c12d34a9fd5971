#!/usr/bin/env bash
# Debian packages the test suite uses, installed when missing:
#   kcat        librdkafka's mock Kafka cluster (the tests' Kafka-protocol broker)
#   prometheus  promtool, which validates deploy/prometheus/alerts.yml
#   chromium    headless browser that opens the migration report page (screenshot and DOM)
# Runs from `npm install` (postinstall) and from .ci/run. Without root or apt-get it only says what is
# missing: the suite then needs KAFKA_BROKERS pointing at a broker.
set -u
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${PRESTAMOS_CDC_SKIP_SYSTEM_TOOLS:-}" = "1" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "prestamos-cdc: installing Debian packages for the test suite: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { echo "prestamos-cdc: could not install ${missing[*]} with apt-get" >&2; exit 0; }
  fi
else
  echo "prestamos-cdc: the test suite needs Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})," >&2
  echo "  or KAFKA_BROKERS set to a running Kafka." >&2
fi
exit 0
