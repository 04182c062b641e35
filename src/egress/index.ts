export { Egress, type EgressObserver, type EgressOptions, type EgressOutcome } from './egress.ts';
export { EgressRuleError, type EgressCaller } from './rules.ts';
