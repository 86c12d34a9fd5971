// Plain JavaScript on purpose: it must run on any Node to explain, instead of a syntax error,
// that the project runs on Node 24 (npm install puts the `node` package's Node 24 first on PATH
// for npm scripts; .ci/run and the README do the same for the shell).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `prestamos-cdc needs Node 24 or newer; this is Node ${process.versions.node} (${process.execPath}).\n` +
      'Run `npm install` first: it installs Node 24 (the npm package `node@24`) into node_modules/.bin, ' +
      'which npm scripts put first on PATH.',
  );
  process.exit(1);
}
