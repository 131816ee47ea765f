import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_FIELDS } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { ROOT } from '../helpers/cli.js';

const EXAMPLE = path.join(ROOT, 'config', 'waypost.yaml');

describe('config/waypost.yaml, the configuration reference', () => {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;

  it.each(ENV_FIELDS.map((f) => [f.path.join('.'), f.path] as const))('documents %s', (_name, fieldPath) => {
    let node: unknown = doc;
    for (const key of fieldPath) {
      expect(node, `parent of ${fieldPath.join('.')}`).toBeTypeOf('object');
      node = (node as Record<string, unknown>)[key];
    }
    expect(node, `${fieldPath.join('.')} is missing from config/waypost.yaml`).not.toBeUndefined();
  });

  it('states the defaults exactly', () => {
    expect(loadConfig({ file: EXAMPLE })).toEqual(loadConfig({}));
  });
});
