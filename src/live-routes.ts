/**
 * Feeds the LiveRouter from the registry mirror: API routes on every route change, and
 * each service's declared routes when that service changes. Both arrive as mirror events
 * (never per request); the router rebuilds only when the route set really changed.
 */
import type { RegistryMirror } from './mirror/mirror.js';
import type { ServiceState } from './registry/store.js';
import type { LiveRouter } from './routing/live-router.js';
import type { DeclaredRoute } from './types.js';

/** The routes a service's instances declare (with repeats; the router keeps one per host+path). */
export function declaredRoutesOf(state: ServiceState | undefined): DeclaredRoute[] {
  const routes: DeclaredRoute[] = [];
  for (const instance of state?.instances ?? []) if (instance.routes) routes.push(...instance.routes);
  return routes;
}

/** Starts following; call after mirror.start() (the first snapshot comes without events). Returns an unsubscribe. */
export function followRegistryRoutes(router: LiveRouter, mirror: RegistryMirror): () => void {
  const syncAll = (): void => {
    router.setApiRoutes(mirror.routes().values(), mirror.revision);
    for (const state of mirror.services()) router.setDeclaredRoutes(state.name, declaredRoutesOf(state), mirror.revision);
  };
  syncAll();
  const offRoutes = mirror.onRoutesChange(() => router.setApiRoutes(mirror.routes().values(), mirror.revision));
  const offServices = mirror.onChange((service, state) => router.setDeclaredRoutes(service, declaredRoutesOf(state), mirror.revision));
  return () => {
    offRoutes();
    offServices();
  };
}
