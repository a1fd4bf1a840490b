// Interactive plan view (TTY only): a spinner per observation while the target is read.
// The finished plan is then printed as plain coloured text (the same renderer as non-TTY
// output), not through ink, so a plan taller than the terminal scrolls normally.
import { Box, Text, render } from 'ink';
import type { Plan } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import type { CliIO } from '../io.js';
import { formatEvent } from './apply-log.js';
import { renderPlanText } from './plan-text.js';
import { Spinner } from './Spinner.js';

export interface PlanViewProps {
  /** Observations in progress, in start order. */
  observing: string[];
  /** How many observations have finished. */
  observed: number;
  /** Set while another apply holds the target's lock. */
  lockWait?: string;
}

export function PlanView({ observing, observed, lockWait }: PlanViewProps): React.JSX.Element {
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
      if (e.type === 'lock-wait') state.lockWait = formatEvent(e) ?? undefined;
      else if (e.type === 'lock-acquired') delete state.lockWait;
      else if (e.type === 'observe-start') state.observing = [...state.observing, e.what];
      else if (e.type === 'observe-done') {
        state.observing = state.observing.filter((w) => w !== e.what);
        state.observed++;
      } else return;
      instance.rerender(<PlanView {...state} />);
    },
    finish(plan) {
      stop();
      io.stdout.write(renderPlanText(plan, { color: true }));
    },
    stop,
  };
}
