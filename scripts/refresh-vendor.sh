#!/usr/bin/env bash
# Refresh the front-end libraries vendored under api/static/vendor/ from the npm registry
# and rewrite their checksums (api/static/vendor/SHA256SUMS, checked by the test suite).
#
#   scripts/refresh-vendor.sh                 # the versions below
#   GRAPHIQL=3.9.0 scripts/refresh-vendor.sh  # another version (then update vendor/README.md)
#
# Needs npm (for `npm pack`, which also checks each tarball's integrity against the
# registry's). Nothing is fetched at run time: the gateway serves these files itself.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=${GRAPHIQL:-3.8.3}
REACT=${REACT:-18.3.1}
CHARTJS=${CHARTJS:-4.6.1}
vendor=api/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # unpack PACKAGE@VERSION: the tarball's package/ in $work/NAME
  local spec=$1 name=${1%@*}
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$work/$name"
  tar -xzf "$work"/"${name}"-*.tgz -C "$work/$name" --strip-components=1
}

unpack "graphiql@$GRAPHIQL"
unpack "react@$REACT"
unpack "react-dom@$REACT"
unpack "chart.js@$CHARTJS"

install -m 0644 "$work/graphiql/graphiql.min.js" "$work/graphiql/graphiql.min.css" \
  "$work/graphiql/LICENSE" "$vendor/graphiql/"
install -m 0644 "$work/react/umd/react.production.min.js" "$work/react/LICENSE" "$vendor/react/"
install -m 0644 "$work/react-dom/umd/react-dom.production.min.js" "$vendor/react/"
install -m 0644 "$work/chart.js/dist/chart.umd.min.js" "$work/chart.js/LICENSE.md" "$vendor/chartjs/"

(cd "$vendor" && find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' | sort \
  | xargs sha256sum > SHA256SUMS)
echo "vendored graphiql@$GRAPHIQL react@$REACT react-dom@$REACT chart.js@$CHARTJS"
cat "$vendor/SHA256SUMS"
