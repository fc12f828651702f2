/**
 * The folder graph of `src/` (ARCHITECTURE.md, "Layers"): no folder cycle, and every run-time import goes to the same
 * layer or one below. The layers are read from ARCHITECTURE.md itself, so the document and the code cannot drift.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { folderCycles, folderGraph } from '../support/folder-graph.js';

const root = new URL('../..', import.meta.url).pathname;
const src = join(root, 'src');

/** Folder → layer number, from the table under "## Layers" (`| 2 | records | config, vault |`). */
function documentedLayers(): Map<string, number> {
  const text = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');
  const section = text.split(/^## /m).find((part) => part.startsWith('Layers'));
  assert.ok(section, 'ARCHITECTURE.md has a "## Layers" section');
  const layers = new Map<string, number>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const layer = Number(cells[1]);
    if (cells.length < 4 || cells[1] === '' || !Number.isInteger(layer)) continue;
    for (const folder of (cells[3] ?? '').replace(/\(.*\)/, '').split(',')) {
      const name = folder.trim().replaceAll('`', '');
      if (name) layers.set(name, layer);
    }
  }
  return layers;
}

describe('architecture: the folder graph of src/', () => {
  const graph = folderGraph(src);

  it('has no folder cycle', () => {
    const cycles = folderCycles(graph);
    const explain = cycles.map((cycle) =>
      cycle
        .flatMap((from) =>
          [...(graph.get(from) ?? new Map<string, string[]>())]
            .filter(([to]) => cycle.includes(to))
            .map(([to, files]) => `${from} → ${to} (${files[0]})`),
        )
        .join('\n  '),
    );
    assert.deepEqual(cycles, [], `folder cycles:\n  ${explain.join('\n\n  ')}`);
  });

  it('places every folder of src/ in a layer of ARCHITECTURE.md', () => {
    const layers = documentedLayers();
    const folders = [
      '.',
      ...readdirSync(src, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name),
    ];
    assert.deepEqual(
      folders.filter((folder) => !layers.has(folder)),
      [],
      'folders missing from the Layers table',
    );
    assert.deepEqual(
      [...layers.keys()].filter((folder) => !folders.includes(folder)),
      [],
      'the Layers table names folders that do not exist',
    );
  });

  it('imports only the same layer or a lower one', () => {
    const layers = documentedLayers();
    const upward: string[] = [];
    for (const [from, edges] of graph) {
      for (const [to, files] of edges) {
        const fromLayer = layers.get(from) ?? -1;
        const toLayer = layers.get(to) ?? Number.POSITIVE_INFINITY;
        if (toLayer > fromLayer) upward.push(`${from} (${fromLayer}) → ${to} (${toLayer}): ${files[0]}`);
      }
    }
    assert.deepEqual(upward, []);
  });
});
