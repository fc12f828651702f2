import { describeBurstWithKills } from './support/burst-scenario.js';

// The burst with two SIGKILLs on PostgreSQL (row locks, SKIP LOCKED, a killed process's connections cut). See
// support/burst-scenario.ts.
describeBurstWithKills('postgres');
