import { describeBurstWithKills } from './support/burst-scenario.js';

// The burst with two SIGKILLs on a SQLite file (the single-process deployment). See support/burst-scenario.ts.
describeBurstWithKills('sqlite');
