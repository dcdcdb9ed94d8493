#!/bin/sh
# generate.sh regenerates the Go code of the gossipd API from its .proto
# files, after linting them, without protoc: buf and the protoc plugins run
# through `go run` at pinned versions (offline once the module cache holds
# them).
#
#   api/generate.sh          lint, then regenerate in place
#   api/generate.sh -check   lint, regenerate into a temporary copy and fail
#                            if the committed code differs (for CI)
#
# It may be run from any directory.
set -eu
BUF="go run github.com/bufbuild/buf/cmd/buf@v1.75.0"
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
$BUF lint
if [ "${1:-}" != "-check" ]; then
	$BUF generate
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R . "$tmp/api"
find "$tmp/api" -name '*.pb.go' -delete
(cd "$tmp/api" && $BUF generate)
status=0
files=$( (cd "$tmp/api" && find . -name '*.pb.go') ; find . -name '*.pb.go')
for f in $(echo "$files" | sort -u); do
	if ! cmp -s "$f" "$tmp/api/$f"; then
		echo "gossipd: generated code out of date: api/${f#./} (run api/generate.sh)" >&2
		status=1
	fi
done
exit $status
