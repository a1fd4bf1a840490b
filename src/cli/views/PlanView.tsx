// Interactive plan view (TTY only): a spinner per observation while the target is read, and
// a live line per rows address while the source is read and staged (rows, rate, ETA).
// The finished plan is then printed as plain coloured text (the same renderer as non-TTY
// output), not through ink, so a plan taller than the terminal scrolls normally.
import { Box, Text, render } from 'ink';
import type { Plan } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import type { CliIO } from '../io.js';
import { formatEvent } from './apply-log.js';
import { renderPlanText } from './plan-text.js';
import { Spinner } from './Spinner.js';
import { rowsDoneText, rowsRunningText, withProgress, type RowsProgress } from './rows-progress.js';

export interface PlanViewProps {
  /** Observations in progress, in start order. */
  observing: string[];
  /** How many observations have finished. */
  observed: number;
  /** Set while another apply holds the target's lock, or another process the DuckDB file. */
  lockWait?: string;
  /** The latest progress of each rows address being read (done ones stay, as a done line). */
  rows?: RowsProgress[];
}

/** `⠋ Reading rows.Order… 120,000 of 1,000,000 rows · 45,000/s · ETA 19s`, then `✔ rows.Order: read … in 22s`. */
export function RowsLine({ progress }: { progress: RowsProgress }): React.JSX.Element {
  if (progress.done) {
    return (
      <Text>
        <Text color="green">✔</Text> {progress.address}: {rowsDoneText(progress)}
      </Text>
    );
  }
  return (
    <Text>
      <Spinner /> {rowsRunningText(progress)}
    </Text>
  );
}

export function PlanView({ observing, observed, lockWait, rows = [] }: PlanViewProps): React.JSX.Element {
  return (
    <Box flexDirection="column">
      {lockWait ? (
        <Text>
          <Spinner /> {lockWait}
        </Text>
      ) : observing.length === 0 ? (
        <Text>
          <Spinner /> Reading the target…
        </Text>
      ) : (
        observing.map((what) => (
          <Text key={what}>
            <Spinner /> {what}: Refreshing state…
          </Text>
        ))
      )}
      {rows.map((p) => (
        <RowsLine key={p.address} progress={p} />
      ))}
      {observed > 0 ? <Text dimColor>{observed} observed</Text> : null}
    </Box>
  );
}

/** Mounts the live view; feed it engine events, then `finish` with the plan (or `stop`). */
export function startPlanView(io: CliIO): { onEvent: (e: EngineEvent) => void; finish: (plan: Plan) => void; stop: () => void } {
  const state: PlanViewProps = { observing: [], observed: 0 };
  const instance = render(<PlanView {...state} />, {
    stdout: io.stdout as NodeJS.WriteStream,
    stdin: io.stdin as NodeJS.ReadStream,
    stderr: io.stderr as NodeJS.WriteStream,
    patchConsole: false,
  });
  let mounted = true;
  const stop = () => {
    if (!mounted) return;
    mounted = false;
    instance.clear();
    instance.unmount();
  };
  return {
    onEvent(e) {
      if (!mounted) return;
      if (e.type === 'lock-wait' || e.type === 'target-busy-wait') state.lockWait = formatEvent(e) ?? undefined;
      else if (e.type === 'lock-acquired') delete state.lockWait;
      else if (e.type === 'observe-start') {
        // plan only checks the lock (no lock-acquired): reading begins once it is free.
        delete state.lockWait;
        state.observing = [...state.observing, e.what];
      }
      else if (e.type === 'observe-done') {
        // The first read opens the DuckDB file: done, any wait for it is over.
        delete state.lockWait;
        state.observing = state.observing.filter((w) => w !== e.what);
        state.observed++;
      } else if (e.type === 'rows-progress' && e.phase === 'read') state.rows = withProgress(state.rows ?? [], e);
      else return;
      instance.rerender(<PlanView {...state} />);
    },
    finish(plan) {
      stop();
      io.stdout.write(renderPlanText(plan, { color: true }));
    },
    stop,
  };
}
