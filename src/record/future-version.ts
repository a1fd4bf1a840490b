// An event without a version of its own is versioned by its event time in µs (a Pub/Sub event
// without `version`; an Eventarc delete, whose version is the later of the entity's last
// version and the event's time; an Eventarc change whose entity carries no version). A clock
// far ahead — a client publishing with its clock in 2099 — would give the row a version no
// later snapshot or event can beat: the version guard would keep that row forever. So such an
// event is never written: past the tolerance scoring already allows for clock skew
// (score.ts, flag future_event_time), it is quarantined with this reason. An event that
// carries its own version is not judged here: application counters may be anything.

import { FUTURE_TOLERANCE_SECONDS } from './score.js';

export interface TimeVersionedEvent {
  kind: string;
  /** The entity's canonical `_key`. */
  key: string;
  /** The event time as the event gave it (RFC 3339). */
  eventTime: string;
  /** The `_version` derived from it: µs since the epoch, decimal. */
  version: string;
  /** When serve received the event. */
  receivedAt: Date;
}

/** How far ahead, readably: seconds, and days beyond one. */
function howFar(seconds: number): string {
  const s = `${Math.round(seconds)} s`;
  return seconds >= 86_400 ? `${s} (${(seconds / 86_400).toFixed(1)} days)` : s;
}

/** Why the event must not be written, or undefined when its time is within the tolerance. */
export function futureVersionReason(e: TimeVersionedEvent): string | undefined {
  const aheadUs = BigInt(e.version) - BigInt(e.receivedAt.getTime()) * 1000n;
  if (aheadUs <= BigInt(FUTURE_TOLERANCE_SECONDS) * 1_000_000n) return undefined;
  const ahead = Number(aheadUs) / 1e6;
  return (
    `future event time: ${e.kind} ${e.key}: eventTime ${e.eventTime} is ${howFar(ahead)} ahead of its receipt at ${e.receivedAt.toISOString()} ` +
    `(more than the ${FUTURE_TOLERANCE_SECONDS} s tolerated); its _version ${e.version}, taken from that time, would outrank every later snapshot and event. ` +
    'Fix the publishing clock, or send the entity\'s version with the event'
  );
}
