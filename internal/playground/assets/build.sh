#!/bin/sh
# build.sh fetches pinned GraphiQL, React and explorer-plugin builds from the npm registry and
# copies their prebuilt browser bundles here, where go:embed picks them up. The output is
# committed; rerun after changing a version below and commit what changed.
set -eu

GRAPHIQL=3.8.3
EXPLORER=3.2.6
REACT=18.3.1

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm pack --silent "graphiql@$GRAPHIQL" "@graphiql/plugin-explorer@$EXPLORER" \
	"react@$REACT" "react-dom@$REACT" >/dev/null
for p in graphiql-$GRAPHIQL graphiql-plugin-explorer-$EXPLORER react-$REACT react-dom-$REACT; do
	mkdir "${p%-*}"
	tar xzf "$p.tgz" -C "${p%-*}" --strip-components=1
done

cp react/umd/react.production.min.js "$here/react.production.min.js"
cp react-dom/umd/react-dom.production.min.js "$here/react-dom.production.min.js"
cp graphiql/graphiql.min.js "$here/graphiql.min.js"
cp graphiql/graphiql.min.css "$here/graphiql.min.css"
cp graphiql-plugin-explorer/dist/index.umd.js "$here/plugin-explorer.umd.js"
cp graphiql-plugin-explorer/dist/style.css "$here/plugin-explorer.css"
# The source maps are left out: they would more than double the binary's assets.
sed -i '/^\/\/# sourceMappingURL=/d' "$here"/*.js
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##' "$here"/*.css

cat >"$here/VERSIONS" <<VERSIONS
graphiql $GRAPHIQL
@graphiql/plugin-explorer $EXPLORER
react $REACT
react-dom $REACT
VERSIONS
