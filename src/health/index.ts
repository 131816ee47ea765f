export { ActiveChecker, type ActiveCheckerOptions, type ProbeResult } from './active.js';
export { healthOf, isEjected, isEligible, poolHealthOf } from './eligibility.js';
export { OutlierDetector, type EjectionNotice, type OutlierDetectorOptions } from './passive.js';
export { SharedEjections, type SharedEjectionsOptions } from './shared-ejections.js';
export { EndpointPool, type EndpointHealthStats } from './state.js';
