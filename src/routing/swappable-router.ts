/**
 * The Router the listeners hold: one reference to the current RouteTable, replaced whole
 * when the configuration is reloaded (one assignment, no lock). A request matched before
 * the swap keeps its RouteMatch (service, balancer, timeouts) to the end; the next one is
 * matched on the new table. The table itself stays immutable (src/routing/table.ts).
 */
import type { RouteMatch, Router } from './route.js';
import type { RouteTable } from './table.js';

export class SwappableRouter implements Router {
  #table: RouteTable;

  constructor(table: RouteTable) {
    this.#table = table;
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** New requests route on `table` from now on. */
  swap(table: RouteTable): void {
    this.#table = table;
  }

  match(host: string, path: string, header: (name: string) => string | undefined): RouteMatch | undefined {
    return this.#table.match(host, path, header);
  }

  /** A service left the registry: the current table drops what it keeps for it. */
  forgetService(service: string): void {
    this.#table.forgetService(service);
  }
}
