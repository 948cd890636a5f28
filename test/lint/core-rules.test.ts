// The lint rule that keeps src/core deterministic is itself tested: each forbidden construct, linted
// as if it were a file in src/core, must be reported, and the same code outside src/core must not be.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function problems(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  assert.ok(result, 'eslint returned a result');
  return result.messages.map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

const forbidden: Record<string, string> = {
  'node: import': "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
  'bare built-in import': "import { join } from 'path';\nexport const j = join;\n",
  'Math.random': 'export const r = Math.random();\n',
  'Date.now': 'export const t = Date.now();\n',
  'new Date': 'export const d = new Date(0);\n',
  setTimeout: 'export const h = setTimeout(() => undefined, 1);\n',
  performance: 'export const p = performance.now();\n',
  process: 'export const e = process.env;\n',
  crypto: 'export const c = crypto.randomUUID();\n',
  'async function': 'export async function f(): Promise<void> {}\n',
  'import from sim': "import { x } from '../../../sim/simulator.js';\nexport const y = x;\n",
};

describe('src/core lint rules', () => {
  for (const [name, code] of Object.entries(forbidden)) {
    test(`rejects ${name} in src/core`, async () => {
      const found = await problems('src/core/lib/probe.ts', code);
      assert.ok(found.length > 0, `expected a lint error for ${name}`);
    });
  }

  test('allows plain deterministic code in src/core', async () => {
    const found = await problems(
      'src/core/lib/probe.ts',
      'export const f = (x: number): number => Math.floor(x) + 1;\n',
    );
    assert.deepEqual(found, []);
  });

  test('keeps the client library out of the server', async () => {
    const found = await problems(
      'src/client/probe.ts',
      "import type { KvService } from '../server/kv-service.js';\nexport type S = KvService;\n",
    );
    assert.ok(found.length > 0, 'expected a lint error for a client importing server code');
  });

  test('allows the same I/O outside src/core', async () => {
    const found = await problems(
      'src/runtime/probe.ts',
      "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\nexport const t = Date.now();\n",
    );
    assert.deepEqual(found, []);
  });
});
