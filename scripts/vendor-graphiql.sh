#!/usr/bin/env bash
# Refreshes the self-hosted GraphiQL files in src/http/assets/ from npm (no CDN at run time:
# the playground must work offline and on intranets). Bump the versions here, run it, then update
# the file names in src/http/assets/graphiql.html and src/http/graphiql.rs, and the table (with the
# checksums it prints) in src/http/assets/README.md.
set -euo pipefail
GRAPHIQL=3.8.3
REACT=18.3.1

cd "$(dirname "$0")/.."
dest=src/http/assets
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for package in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
    mkdir -p "$work/$package"
    tar xzf "$work/$package.tgz" -C "$work/$package"
done

cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" "$dest/graphiql-$GRAPHIQL.min.js"
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" "$dest/graphiql-$GRAPHIQL.min.css"
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" "$dest/LICENSE.graphiql"
cp "$work/react-$REACT/package/umd/react.production.min.js" "$dest/react-$REACT.production.min.js"
cp "$work/react-$REACT/package/LICENSE" "$dest/LICENSE.react"
cp "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" "$dest/react-dom-$REACT.production.min.js"

(cd "$dest" && sha256sum ./*.min.js ./*.min.css)
