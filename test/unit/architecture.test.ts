/**
 * The layering of src/: no folder imports a folder that imports it back, directly
 * or through others (type-only imports count too: they couple the folders just the
 * same). Each folder under src/ is one node; each file at the top of src/ is its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/g;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** `proxy` for src/proxy/engines/undici.ts, `app.ts` for src/app.ts. */
function nodeOf(file: string): string {
  const [first = ''] = path.relative(SRC, file).split(path.sep);
  return first;
}

/** node → node → the import lines that make the edge. */
function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sourceFiles(SRC)) {
    const from = nodeOf(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), match[1]!.replace(/\.js$/, '.ts'));
      const to = nodeOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string[]>();
      graph.set(from, edges);
      edges.set(to, [...(edges.get(to) ?? []), `${path.relative(SRC, file)} → ${match[1]}`]);
    }
  }
  return graph;
}

/** Tarjan's strongly connected components; a component of more than one node is a cycle. */
function cycles(graph: Map<string, Map<string, string[]>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('src/ layering', () => {
  it('has no import cycle between folders', () => {
    const graph = folderGraph();
    const explained = cycles(graph).map((component) =>
      component.flatMap((from) =>
        [...(graph.get(from) ?? new Map<string, string[]>())]
          .filter(([to]) => component.includes(to))
          .flatMap(([, lines]) => lines),
      ),
    );
    expect(explained).toEqual([]);
  });

  it('sees the imports it checks (the graph is not empty)', () => {
    const graph = folderGraph();
    expect(graph.get('proxy')?.has('routing')).toBe(true);
    expect(graph.get('app.ts')?.size).toBeGreaterThan(5);
  });
});
