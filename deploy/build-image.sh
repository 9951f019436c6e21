#!/usr/bin/env bash
# Builds the oauth3 container image from one commit so that the same commit always gives the same image digest:
# the release build and anyone checking it (deploy/check-reproducible.sh) run exactly this.
#
#   deploy/build-image.sh [--commit REV] --push REGISTRY/REPO    # release: push, print the digest to deploy
#   deploy/build-image.sh [--commit REV] --oci FILE.tar          # local: an OCI archive, print its digest
#
# What makes it reproducible (see the Dockerfile for the inputs it pins):
# - the build context is `git archive REV`, unpacked under umask 022: only committed files, with the permissions git
#   records and the commit time as mtime, whatever the checkout or the builder's umask;
# - SOURCE_DATE_EPOCH is the commit time (git log -1 --format=%ct), passed to the Dockerfile, which gives it to
#   every stage; BuildKit stamps it as the image's creation time, and rewrite-timestamp=true clamps every file's
#   mtime in the layers to it (BuildKit 0.13 or later);
# - one platform (linux/amd64, what dstack's TDX hosts run), no provenance or SBOM attestations (they record the
#   build's own start and end times), OCI media types, no cache: nothing from an earlier build is reused.
# BuildKit runs in a docker-container builder of its own (name: $OAUTH3_BUILDER, default oauth3-repro) from
# $BUILDKIT_IMAGE, so the BuildKit version is a choice rather than whatever the local docker ships; the script prints
# it. Pin the version a release was built with (BUILDKIT_IMAGE=moby/buildkit:vX.Y.Z) to rebuild that release.
set -euo pipefail

usage() {
  echo "usage: $0 [--commit REV] (--push REGISTRY/REPO | --oci FILE.tar) [--metadata FILE]" >&2
  exit 2
}

commit=HEAD
push=''
oci=''
metadata=''
while [ $# -gt 0 ]; do
  case "$1" in
    --commit) commit=${2:?--commit needs a revision}; shift 2 ;;
    --push) push=${2:?--push needs REGISTRY/REPO}; shift 2 ;;
    --oci) oci=${2:?--oci needs a file}; shift 2 ;;
    --metadata) metadata=${2:?--metadata needs a file}; shift 2 ;;
    *) usage ;;
  esac
done
if { [ -n "$push" ] && [ -n "$oci" ]; } || { [ -z "$push" ] && [ -z "$oci" ]; }; then usage; fi
if [ -n "$push" ] && [[ "${push##*/}" == *[:@]* ]]; then
  echo "--push takes a repository without tag or digest (the digest is the build's to say): $push" >&2
  exit 2
fi

builder=${OAUTH3_BUILDER:-oauth3-repro}
buildkit_image=${BUILDKIT_IMAGE:-moby/buildkit:buildx-stable-1}
platform=${OAUTH3_PLATFORM:-linux/amd64}

repo_root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
rev=$(git -C "$repo_root" rev-parse --verify "${commit}^{commit}")
epoch=$(git -C "$repo_root" log -1 --format=%ct "$rev")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
mkdir "$work/context"
git -C "$repo_root" archive --format=tar "$rev" | tar -x -C "$work/context"

if ! docker buildx inspect "$builder" >/dev/null 2>&1; then
  docker buildx create --name "$builder" --driver docker-container --driver-opt "image=$buildkit_image" >/dev/null
fi
builder_info=$(docker buildx inspect --bootstrap "$builder")
buildkit_version=$(awk -F': *' '/^BuildKit version|^Buildkit/ {print $2; exit}' <<<"$builder_info")

if [ -n "$push" ]; then
  output="type=image,name=$push,push=true,oci-mediatypes=true,rewrite-timestamp=true"
else
  output="type=oci,dest=$oci,rewrite-timestamp=true"
fi
meta=${metadata:-$work/metadata.json}

echo "building $rev (SOURCE_DATE_EPOCH=$epoch, $platform, BuildKit ${buildkit_version:-?} from $buildkit_image)" >&2
SOURCE_DATE_EPOCH=$epoch docker buildx build \
  --builder "$builder" \
  --platform "$platform" \
  --no-cache \
  --pull \
  --provenance=false \
  --sbom=false \
  --build-arg "SOURCE_DATE_EPOCH=$epoch" \
  --output "$output" \
  --metadata-file "$meta" \
  "$work/context" >&2

digest=$(node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(m["containerimage.digest"] ?? "")' "$meta")
if ! [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "the build reported no image digest (see $meta)" >&2
  exit 1
fi
if [ -n "$push" ]; then
  echo "pushed $push@$digest" >&2
  echo "next: node deploy/dstack/render.mjs $push@$digest" >&2
fi
echo "$digest"
