/**
 * Reads a V8 sampling heap profile (HeapProfiler.stopSampling, taken with the objects GCs
 * collected included: children/alloc-probe.mjs) into allocation sites. Each node's selfSize is
 * V8's scaled estimate of all bytes allocated there, so the sum over the tree estimates every
 * byte allocated while sampling ran. Frames in Waypost's dist/ are mapped to src/ lines through
 * the build's source maps.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  /** 0-based. */
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

export interface SamplingHeapProfile {
  head: ProfileNode;
}

export interface AllocationSite {
  /** `function file:line` (src/ for Waypost's own frames). */
  site: string;
  bytes: number;
}

export interface ProfileSummary {
  totalBytes: number;
  /** Self bytes by the allocating frame, with the nearest Waypost frame above it. */
  bySelf: AllocationSite[];
  /** Bytes by the nearest Waypost (dist/) frame on the stack: what Waypost's code caused. */
  byWaypostFrame: AllocationSite[];
}

/** `distDir`: the dist/ of the build that was profiled (its frames are Waypost's). */
export function summarizeProfile(profile: SamplingHeapProfile, distDir: string): ProfileSummary {
  const mapper = new FrameNamer(distDir);
  const bySelf = new Map<string, number>();
  const byWaypost = new Map<string, number>();
  let totalBytes = 0;
  const visit = (node: ProfileNode, nearestWaypost: string | undefined): void => {
    const name = mapper.name(node.callFrame);
    const ownWaypost = mapper.isWaypost(node.callFrame) ? name : nearestWaypost;
    if (node.selfSize > 0) {
      totalBytes += node.selfSize;
      const self = ownWaypost === undefined || ownWaypost === name ? name : `${name}  ← ${ownWaypost}`;
      bySelf.set(self, (bySelf.get(self) ?? 0) + node.selfSize);
      const key = ownWaypost ?? '(no Waypost frame)';
      byWaypost.set(key, (byWaypost.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) visit(child, ownWaypost);
  };
  visit(profile.head, undefined);
  return { totalBytes, bySelf: sorted(bySelf), byWaypostFrame: sorted(byWaypost) };
}

function sorted(sites: Map<string, number>): AllocationSite[] {
  return [...sites].map(([site, bytes]) => ({ site, bytes })).sort((a, b) => b.bytes - a.bytes);
}

class FrameNamer {
  readonly #distDir: string;
  readonly #maps = new Map<string, SourceMap | undefined>();

  constructor(distDir: string) {
    this.#distDir = path.resolve(distDir);
  }

  isWaypost(frame: CallFrame): boolean {
    return this.#file(frame.url)?.startsWith(this.#distDir + path.sep) === true;
  }

  name(frame: CallFrame): string {
    const fn = frame.functionName || '(anonymous)';
    const file = this.#file(frame.url);
    if (file === undefined) return frame.url === '' ? fn : `${fn} ${frame.url}:${frame.lineNumber + 1}`;
    if (file.startsWith(this.#distDir + path.sep)) {
      const entry = this.#map(file)?.findEntry(frame.lineNumber, frame.columnNumber);
      if (entry !== undefined && 'originalSource' in entry && entry.originalSource) {
        const source = entry.originalSource.startsWith('file:') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(file), entry.originalSource);
        return `${fn} ${path.relative(path.dirname(this.#distDir), source)}:${entry.originalLine + 1}`;
      }
      return `${fn} ${path.relative(path.dirname(this.#distDir), file)}:${frame.lineNumber + 1}`;
    }
    const modules = file.lastIndexOf(`node_modules${path.sep}`);
    return `${fn} ${modules >= 0 ? file.slice(modules + 13) : path.basename(file)}:${frame.lineNumber + 1}`;
  }

  #file(url: string): string | undefined {
    if (url.startsWith('file://')) return fileURLToPath(url);
    return url.startsWith('/') ? url : undefined;
  }

  #map(file: string): SourceMap | undefined {
    if (!this.#maps.has(file)) {
      const mapFile = `${file}.map`;
      this.#maps.set(file, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined);
    }
    return this.#maps.get(file);
  }
}
