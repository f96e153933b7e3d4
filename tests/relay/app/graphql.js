'use strict';
// What babel-plugin-relay does to a Relay app at build time, done here when an app module loads,
// so that the app runs under plain `node --test` with no Babel step: a `graphql` tagged template
// evaluates to the artifact relay-compiler generated from it, `__generated__/<Name>.graphql.js`
// beside the app, named after the document's operation or fragment. (`npm test` always compiles
// first, so the artifacts are never older than the documents.)

const path = require('node:path');

const DEFINITION = /\b(?:query|mutation|subscription|fragment)\s+([_A-Za-z][_0-9A-Za-z]*)/;

function graphql(strings, ...substitutions) {
  if (strings.length !== 1 || substitutions.length !== 0) {
    throw new Error('graphql: a Relay document is static text, without ${} substitutions');
  }
  const [, name] = strings[0].match(DEFINITION) ?? [];
  if (!name) throw new Error(`graphql: no named operation or fragment in ${strings[0]}`);
  const file = path.join(__dirname, '__generated__', `${name}.graphql.js`);
  try {
    return require(file);
  } catch (error) {
    throw new Error(`graphql: cannot load ${file}: run \`npm run compile\` first (${error.message})`);
  }
}

module.exports = { graphql };
