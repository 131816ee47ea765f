import { runBalancerContract } from '../../contract/balancer.contract.js';
import { createBalancer, policies, type BalancerName } from '../../../src/balancer/index.js';

for (const name of Object.keys(policies) as BalancerName[]) {
  runBalancerContract(name, (random) => createBalancer(name, { random }));
  runBalancerContract(`sticky ${name}`, (random) => createBalancer(name, { random, sticky: {} }));
}
