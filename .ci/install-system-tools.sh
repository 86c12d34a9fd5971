#!/usr/bin/env bash
# What the test suite needs besides npm packages, installed when missing:
#   prometheus  (Debian) promtool, which validates deploy/prometheus/alerts.yml
#   Apache Kafka from Maven Central, by .ci/install-kafka.sh (needs java and mvn)
# Runs from `npm install` (postinstall) and from .ci/run. Without root or apt-get it only says what is
# missing.
set -u
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ "${PRESTAMOS_CDC_SKIP_SYSTEM_TOOLS:-}" = "1" ]; then exit 0; fi
bash "$(dirname "$0")/install-kafka.sh" || exit 1
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "prestamos-cdc: installing Debian packages for the test suite: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { echo "prestamos-cdc: could not install ${missing[*]} with apt-get" >&2; exit 0; }
  fi
else
  echo "prestamos-cdc: the test suite needs Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
fi
exit 0
