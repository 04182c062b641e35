// The tests' own support library: one of each thing every folder of tests needs.
export { waitFor } from './wait-for.ts';
export { freePort, freePortRun } from './ports.ts';
export { tempDir } from './temp-dir.ts';
export { startChild, stopChild, type ChildNode } from './child-process.ts';
export { CLUSTER_SECRET } from './cluster-secret.ts';
export { installPackages } from './npm-install.ts';
export { copyState } from './copy-state.ts';
export { sessionStepCommand } from './session-step-command.ts';
