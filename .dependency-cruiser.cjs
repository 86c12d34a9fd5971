// The dependency rule of the code (run by `npm test` through `npm run deps`): layers import downwards
// only, and no two modules import each other, directly or through others. docs/DESIGN.md ("Layers")
// draws the same picture. dependency-cruiser parses TypeScript with swc (TypeScript 7 has no compiler
// API for it yet).
//
//   cli ─▶ services/demo ─▶ services/orchestrator ─▶ services/{capture,sync,reconciler}
//        ─▶ services/testdata ─▶ connectors/{postgres,kafka,inline} ─▶ services/runtime ─▶ services/domain
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'modules that import each other, directly or through others', from: {}, to: { circular: true } },
    { name: 'domain-is-pure', severity: 'error', comment: 'the domain rules import nothing else of the project', from: { path: '^services/domain/' }, to: { path: '^(services/(?!domain/)|connectors/|cli/)' } },
    { name: 'runtime-below-connectors', severity: 'error', comment: 'the shared runtime imports only the domain', from: { path: '^services/runtime/' }, to: { path: '^(services/(?!runtime/|domain/)|connectors/|cli/)' } },
    { name: 'connectors-below-services', severity: 'error', comment: 'connectors import the runtime and the domain, never a service', from: { path: '^connectors/' }, to: { path: '^(services/(?!runtime/|domain/)|cli/)' } },
    { name: 'connectors-apart', severity: 'error', comment: 'one connector does not import another', from: { path: '^connectors/([^/]+)/' }, to: { path: '^connectors/', pathNot: '^connectors/$1/' } },
    { name: 'services-apart', severity: 'error', comment: 'capture, sync and reconciler do not import each other, nor what assembles them (the orchestrator, the demo)', from: { path: '^services/(capture|sync|reconciler)/' }, to: { path: '^services/(capture|sync|reconciler|orchestrator|demo)/', pathNot: '^services/$1/' } },
    { name: 'testdata-is-a-library', severity: 'error', comment: 'the test-data generator and writer (used by the reconciler, the demo and the tests) import no service', from: { path: '^services/testdata/' }, to: { path: '^(services/(capture|sync|reconciler|orchestrator|demo)/|cli/)' } },
    { name: 'orchestrator-below-demo', severity: 'error', comment: 'the orchestrator does not import the demo or the CLI', from: { path: '^services/orchestrator/' }, to: { path: '^(services/demo/|cli/)' } },
    { name: 'nothing-imports-cli', severity: 'error', comment: 'the entry point is imported by nothing', from: { pathNot: '^cli/' }, to: { path: '^cli/' } },
    { name: 'not-to-test', severity: 'error', comment: 'product code never imports the test tree', from: { path: '^(services|connectors|cli)/' }, to: { path: '^(test|bench)/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^node_modules' },
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
