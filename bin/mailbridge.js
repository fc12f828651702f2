#!/usr/bin/env node
// The `mailbridge` command: loads the TypeScript sources through tsx (no build step) and runs the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
