#!/usr/bin/env bash
# Refreshes vendor/ from the versions pinned in package-lock.json: the prebuilt files the
# GraphiQL page loads, their packages' licences, and SHA256SUMS, which a test checks against
# what the binary embeds. Run after changing a version in package.json (needs npm):
#   cd assets/graphiql && npm install && ./update-vendor.sh
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
files=(
  graphiql/graphiql.min.js
  graphiql/graphiql.min.css
  react/umd/react.production.min.js
  react-dom/umd/react-dom.production.min.js
  graphql-ws/umd/graphql-ws.min.js
)
rm -rf vendor && mkdir -p vendor
for file in "${files[@]}"; do
  mkdir -p "vendor/$(dirname "$file")"
  cp "node_modules/$file" "vendor/$file"
done
for package in graphiql react react-dom graphql-ws; do
  # LICENSE, or LICENSE.md (graphql-ws); no match fails the copy, and so the script.
  cp node_modules/"$package"/LICENSE* "vendor/$package/"
  version=$(node -p "require('./node_modules/$package/package.json').version")
  echo "$package $version" >> vendor/VERSIONS
done
(cd vendor && sha256sum "${files[@]}" > SHA256SUMS)
echo "vendor/ updated:"; cat vendor/VERSIONS
