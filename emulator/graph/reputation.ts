import type { EmulatorContext } from '../context.js';
import type { Mailbox, ReputationState, User } from '../state/model.js';

/**
 * The emulator's sender-reputation model. A model, not Microsoft's filter (nobody outside knows that one): it
 * gives warm-up something measurable in both directions. Reputation `r` is in [0, 1]; the junk filter puts a
 * sender's mail in Junk Email with probability `junkBase × (1 − r)` (delivery.ts).
 *
 * - New mailboxes start at `initial.work` or `initial.personal` (Outlook.com senders start lower).
 * - Engagement raises it: `r += gain × w × (1 − r)` (delivery.ts `recordEngagement`, settings.delivery.reputationGain).
 *   Engagement is a rate, not a count [model choice]: `w = min(1, engagementVolume / the sender's daily volume)`, the
 *   daily volume being its busiest UTC day of the last `engagementVolumeDays` (3, so Friday's mail read on Monday
 *   counts against Friday). A sender of up to 20 a day (warm-up's ramp, a person's mail) gains in full; one whose
 *   65 messages a day earn five engaged replies gains as a sender of 65, not of 5, so warm-up mail cannot launder a
 *   no-ramp sender's volume.
 * - Volume far above the sender's history lowers it. The sender's established volume is
 *   `max(volumeSpikeFloor, volumeSpikeFactor × its daily average over the last volumeHistoryDays UTC days)`; each
 *   message of a UTC day beyond it costs `r −= volumePenalty × r`. A new or long-idle sender has the floor, 20, what
 *   a person might send in a day [model choice]. A mailbox that starts at 60 a day pays for 40, 40, 35, 22 and 9
 *   messages on its first five weekdays while its two weeks of history fill, and a ramp as docs/warmup.md §A sends
 *   it (≤ 40 a day, +1 a day, its daily factor swinging ×0.6–1.1) stays within it (emulator/README.md).
 * - Each bounced recipient costs `r −= bouncePenalty × r`; each copy a recipient moves into Junk Email costs
 *   `r −= junkPenalty × r` (once per copy).
 * - Idle mailboxes drift back toward `neutral`: after `idleAfterHours` (72) without a send, the distance to `neutral`
 *   halves every `idleHalfLifeDays` (5; applied lazily, on the emulator's clock). A weekday sender's weekend is not
 *   idleness; a pause of 10–14 days takes a sender from 95% Inbox (`junkBase` 0.8) to about 70%, the loss warm-up
 *   vendors report after such a pause (TrulyInbox, docs/warmup.md §A re-entry) [GUESS: calibrated to that claim].
 * Everything is a pure function of the settings, the clock and the requests, so a seed and a request sequence
 * give the same reputations every time.
 */

export interface ReputationSettings {
  initial: { work: number; personal: number };
  neutral: number;
  idleAfterHours: number;
  idleHalfLifeDays: number;
  volumeSpikeFactor: number;
  volumeHistoryDays: number;
  volumeSpikeFloor: number;
  volumePenalty: number;
  engagementVolume: number;
  engagementVolumeDays: number;
  bouncePenalty: number;
  junkPenalty: number;
}

export const defaultReputationSettings: ReputationSettings = {
  initial: { work: 0.5, personal: 0.25 },
  neutral: 0.5,
  idleAfterHours: 72,
  idleHalfLifeDays: 5,
  volumeSpikeFactor: 3,
  volumeHistoryDays: 14,
  volumeSpikeFloor: 20,
  volumePenalty: 0.02,
  engagementVolume: 20,
  engagementVolumeDays: 3,
  bouncePenalty: 0.05,
  junkPenalty: 0.04,
};

const DAY_MS = 86_400_000;

/** The live settings, completed with the defaults (a snapshot saved before the model existed lacks them). */
export function reputationSettings(ctx: EmulatorContext): ReputationSettings {
  const saved = ctx.settings.delivery.reputation;
  if (saved === undefined) return defaultReputationSettings;
  return {
    ...defaultReputationSettings,
    ...saved,
    initial: { ...defaultReputationSettings.initial, ...saved.initial },
  };
}

/** Where a new mailbox of this user starts. */
export function initialReputation(ctx: EmulatorContext, user: Pick<User, 'kind'>): number {
  const initial = reputationSettings(ctx).initial;
  return user.kind === 'personal' ? initial.personal : initial.work;
}

function stateOf(ctx: EmulatorContext, mailbox: Mailbox): ReputationState {
  if (!mailbox.reputationState) {
    mailbox.reputationState = { sendsByDay: {}, lastSendAt: null, driftedAt: ctx.clock.now() };
  }
  return mailbox.reputationState;
}

/** Applies idle drift up to now and returns the sender's reputation. */
export function currentReputation(ctx: EmulatorContext, mailbox: Mailbox): number {
  const settings = reputationSettings(ctx);
  const state = stateOf(ctx, mailbox);
  const now = ctx.clock.now();
  const idleFrom = state.lastSendAt === null ? state.driftedAt : state.lastSendAt + settings.idleAfterHours * 3_600_000;
  const from = Math.max(idleFrom, state.driftedAt);
  if (now > from && settings.idleHalfLifeDays > 0) {
    const halvings = (now - from) / (settings.idleHalfLifeDays * DAY_MS);
    mailbox.reputation = settings.neutral + (mailbox.reputation - settings.neutral) * 0.5 ** halvings;
  }
  state.driftedAt = Math.max(state.driftedAt, now);
  return mailbox.reputation;
}

function lower(mailbox: Mailbox, share: number, times = 1): void {
  mailbox.reputation = Math.max(0, mailbox.reputation * (1 - share) ** times);
}

/** Raises reputation by `gain × w × (1 − r)` (engagement, weighed by the sender's volume), after idle drift. */
export function raiseReputation(ctx: EmulatorContext, mailbox: Mailbox, gain: number): void {
  const r = currentReputation(ctx, mailbox);
  mailbox.reputation = Math.min(1, r + gain * engagementWeight(ctx, mailbox) * (1 - r));
}

/** The share of a sender's mail one engaged copy speaks for: `min(1, engagementVolume / its busiest recent day)`. */
function engagementWeight(ctx: EmulatorContext, mailbox: Mailbox): number {
  const settings = reputationSettings(ctx);
  const sendsByDay = stateOf(ctx, mailbox).sendsByDay;
  const today = Math.floor(ctx.clock.now() / DAY_MS);
  let busiest = 0;
  for (let day = today - settings.engagementVolumeDays + 1; day <= today; day++) {
    busiest = Math.max(busiest, sendsByDay[day] ?? 0);
  }
  return busiest <= settings.engagementVolume ? 1 : settings.engagementVolume / busiest;
}

/**
 * Counts one sent message in the sender's daily volume; past the spike threshold it costs reputation. Call before
 * the junk verdict, so a spike already weighs on the message that made it.
 */
export function noteSent(ctx: EmulatorContext, mailbox: Mailbox): void {
  const settings = reputationSettings(ctx);
  currentReputation(ctx, mailbox);
  const state = stateOf(ctx, mailbox);
  const now = ctx.clock.now();
  const today = Math.floor(now / DAY_MS);
  let history = 0;
  for (const key of Object.keys(state.sendsByDay)) {
    const day = Number(key);
    if (day < today - settings.volumeHistoryDays) delete state.sendsByDay[key];
    else if (day < today) history += state.sendsByDay[key]!;
  }
  const sentToday = (state.sendsByDay[today] ?? 0) + 1;
  state.sendsByDay[today] = sentToday;
  state.lastSendAt = now;
  const average = settings.volumeHistoryDays > 0 ? history / settings.volumeHistoryDays : 0;
  const threshold = Math.max(settings.volumeSpikeFloor, settings.volumeSpikeFactor * average);
  if (sentToday > threshold) lower(mailbox, settings.volumePenalty);
}

/** Recipients that bounced (no such mailbox) cost the sender. */
export function noteBounces(ctx: EmulatorContext, mailbox: Mailbox, count: number): void {
  if (count <= 0) return;
  currentReputation(ctx, mailbox);
  lower(mailbox, reputationSettings(ctx).bouncePenalty, count);
}

/** A recipient filed the sender's mail as junk. */
export function noteMarkedJunk(ctx: EmulatorContext, mailbox: Mailbox): void {
  currentReputation(ctx, mailbox);
  lower(mailbox, reputationSettings(ctx).junkPenalty);
}
