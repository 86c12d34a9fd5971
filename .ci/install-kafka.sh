#!/usr/bin/env bash
# Fetches the Apache Kafka broker pinned by test/kafka/pom.xml (kafka_2.13 and a log4j2 binding) from
# Maven Central into .tools/kafka/<version>/lib, with Maven's strict checksums, then checks every jar
# against test/kafka/SHA256SUMS. Does nothing when that folder is already complete.
#   bash .ci/install-kafka.sh                      install (postinstall and .ci/run call this)
#   bash .ci/install-kafka.sh --update-checksums   after changing versions in the pom: rewrite SHA256SUMS
# Without java or mvn it says so and exits 0 (the Kafka tests are then skipped, except with CI=true,
# where the test run fails); with CI=true a failed fetch or check exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pom=test/kafka/pom.xml
sums=test/kafka/SHA256SUMS
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
dest=.tools/kafka/$version
update=0
[ "${1:-}" = "--update-checksums" ] && update=1

fail() {
  echo "prestamos-cdc: Apache Kafka $version not installed: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  exit 0
}

if [ $update -eq 0 ] && [ -f "$dest/.complete" ]; then exit 0; fi
command -v java >/dev/null 2>&1 || fail "java is missing (OpenJDK 17 or newer; Debian: apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null 2>&1 || fail "mvn is missing (Debian: apt-get install maven)"

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
echo "prestamos-cdc: fetching Apache Kafka $version from Maven Central into $dest" >&2
if ! mvn -B -q -C -f "$pom" dependency:copy-dependencies -DoutputDirectory="$PWD/$dest.tmp/lib" >"$dest.tmp/mvn.log" 2>&1; then
  tail -20 "$dest.tmp/mvn.log" >&2
  fail "mvn dependency:copy-dependencies failed (log above)"
fi
if [ $update -eq 1 ]; then
  (cd "$dest.tmp/lib" && sha256sum -- *.jar) > "$sums"
  echo "prestamos-cdc: wrote $sums ($(wc -l < "$sums") jars)" >&2
else
  if ! (cd "$dest.tmp/lib" && sha256sum --quiet -c "$root/$sums") >&2; then
    fail "a jar does not match $sums"
  fi
  extra=$(cd "$dest.tmp/lib" && ls -- *.jar | grep -vxF -f <(awk '{print $2}' "$root/$sums") || true)
  [ -z "$extra" ] || fail "jars not listed in $sums: $extra"
fi
rm -rf "$dest"
mv "$dest.tmp" "$dest"
date -u +%FT%TZ > "$dest/.complete"
echo "prestamos-cdc: Apache Kafka $version ready in $dest" >&2
