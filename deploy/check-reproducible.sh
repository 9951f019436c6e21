#!/usr/bin/env bash
# Is the oauth3 image reproducible? Builds it twice from the same commit with deploy/build-image.sh (git archive,
# SOURCE_DATE_EPOCH = commit time, rewrite-timestamp=true, no cache), emptying the builder's cache in between so the
# second build shares nothing with the first, and compares the two image digests.
#
#   deploy/check-reproducible.sh [REV]                    # two builds of REV (default HEAD) must agree
#   deploy/check-reproducible.sh REV sha256:<64 hex>      # ... and match this digest, e.g. the one in a release's
#                                                         # app-compose (what a dstack deployment runs)
#
# Needs docker with buildx and access to Docker Hub (the base image, the Dockerfile frontend, BuildKit itself) and to
# the npm registry. To rebuild a release exactly, use the BuildKit version it was built with: BUILDKIT_IMAGE=... (and
# OAUTH3_BUILDER=a-new-name, since an existing builder keeps its image). Exit status: 0 reproducible (and matching),
# 1 not, 2 usage.
set -euo pipefail

rev=${1:-HEAD}
expected=${2:-}
if [ $# -gt 2 ] || { [ -n "$expected" ] && ! [[ "$expected" =~ ^sha256:[0-9a-f]{64}$ ]]; }; then
  echo "usage: $0 [REV] [sha256:<64 hex>]" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
builder=${OAUTH3_BUILDER:-oauth3-repro}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

first=$("$here/build-image.sh" --commit "$rev" --oci "$out/first.tar")
# Nothing of the first build (layers, cache mounts, the pulled base image) may serve the second.
docker buildx prune --builder "$builder" --all --force >/dev/null
second=$("$here/build-image.sh" --commit "$rev" --oci "$out/second.tar")

echo "first build:  $first"
echo "second build: $second"
if [ "$first" != "$second" ]; then
  kept=$(mktemp -d)
  mv "$out/first.tar" "$out/second.tar" "$kept/"
  echo "NOT REPRODUCIBLE: two builds of $rev differ. Compare them: diffoscope $kept/first.tar $kept/second.tar"
  exit 1
fi
if [ -n "$expected" ] && [ "$first" != "$expected" ]; then
  echo "REPRODUCIBLE, BUT DIFFERENT: $rev builds to $first, not to $expected (another commit, base image or BuildKit?)"
  exit 1
fi
echo "REPRODUCIBLE: $rev builds to $first${expected:+, the expected digest}"
