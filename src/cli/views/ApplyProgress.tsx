// Interactive apply progress (TTY only): a spinner per change while it runs; finished
// changes, retries and lock waits are written once above it (<Static>), so a long apply
// scrolls like a log instead of redrawing a screen taller than the terminal. A running
// `rows.<Kind>` change shows its merge progress (rows, rate), and its finished line the total.
import { Box, Static, Text, render } from 'ink';
import type { Action, PlanSummary } from '../../engine/plan.js';
import type { EngineEvent } from '../../engine/events.js';
import type { CliIO } from '../io.js';
import { formatElapsed } from '../duration.js';
import { formatEvent, type FormatOptions } from './apply-log.js';
import { Spinner } from './Spinner.js';
import { rowsDoneText, rowsRunningText, type RowsProgress } from './rows-progress.js';

export type ProgressLine =
  | { kind: 'done'; address: string; action: Action; ms: number; rows?: RowsProgress }
  | { kind: 'failed'; address: string; action: Action; message: string }
  | { kind: 'note'; text: string };

export interface ApplyProgressProps {
  /** Finished changes and notes, in order; written once. */
  lines: ProgressLine[];
  /** Changes in progress, with the latest merge progress of a rows change. */
  running: Array<{ address: string; action: Action; rows?: RowsProgress }>;
  summary: PlanSummary | null;
  /** Set when apply stopped on a signal: what was done and what remains. */
  interrupted?: string | null;
}

const VERB: Record<Action, string> = { create: 'Creating', update: 'Modifying', delete: 'Destroying', replace: 'Replacing', 'no-op': 'Checking' };
const DONE: Record<Action, string> = { create: 'Created', update: 'Modified', delete: 'Destroyed', replace: 'Replaced', 'no-op': 'Checked' };

function Line({ line }: { line: ProgressLine }): React.JSX.Element {
  if (line.kind === 'note') return <Text color="yellow">{line.text}</Text>;
  if (line.kind === 'failed') {
    return (
      <Text>
        <Text color="red">✘</Text> {line.address}: {VERB[line.action]} failed: <Text color="red">{line.message}</Text>
      </Text>
    );
  }
  return (
    <Text>
      <Text color="green">✔</Text> {line.address}: {DONE[line.action]}{' '}
      <Text dimColor>
        after {formatElapsed(line.ms)}
        {line.rows ? ` · ${rowsDoneText(line.rows)}` : ''}
      </Text>
    </Text>
  );
}

export function ApplyProgress({ lines, running, summary, interrupted }: ApplyProgressProps): React.JSX.Element {
  return (
    <Box flexDirection="column">
      <Static items={lines.map((line, i) => ({ line, i }))}>{({ line, i }) => <Line key={i} line={line} />}</Static>
      {running.map((r) => (
        <Text key={r.address}>
          <Spinner /> {r.address}: {VERB[r.action]}…{r.rows ? ` ${r.rows.done ? rowsDoneText(r.rows) : rowsRunningText(r.rows)}` : ''}
        </Text>
      ))}
      {summary ? (
        <Box marginTop={1}>
          <Text bold color="green">
            Apply complete! Resources: {summary.add} added, {summary.change} changed, {summary.destroy} destroyed.
          </Text>
        </Box>
      ) : null}
      {interrupted ? (
        <Box marginTop={1}>
          <Text bold color="yellow">
            {interrupted}
          </Text>
        </Box>
      ) : null}
    </Box>
  );
}

/** Mounts the live progress view; feed it engine events and `stop` it when apply returns. */
export function startApplyProgress(io: CliIO, format: FormatOptions = {}): { onEvent: (e: EngineEvent) => void; stop: () => void } {
  const state: ApplyProgressProps = { lines: [], running: [], summary: null, interrupted: null };
  const instance = render(<ApplyProgress {...state} />, {
    stdout: io.stdout as NodeJS.WriteStream,
    stdin: io.stdin as NodeJS.ReadStream,
    stderr: io.stderr as NodeJS.WriteStream,
    patchConsole: false,
  });
  let mounted = true;
  const finish = (address: string, line: ProgressLine) => {
    state.running = state.running.filter((r) => r.address !== address);
    state.lines = [...state.lines, line];
  };
  const rowsOf = (address: string) => state.running.find((r) => r.address === address)?.rows;
  return {
    onEvent(e) {
      if (!mounted) return;
      if (e.type === 'change-start') state.running = [...state.running, { address: e.address, action: e.action }];
      else if (e.type === 'change-done') {
        const rows = rowsOf(e.address);
        finish(e.address, { kind: 'done', address: e.address, action: e.action, ms: e.ms, ...(rows?.done ? { rows } : {}) });
      } else if (e.type === 'rows-progress' && e.phase === 'merge') {
        state.running = state.running.map((r) => (r.address === e.address ? { ...r, rows: e } : r));
      }
      else if (e.type === 'change-failed') finish(e.address, { kind: 'failed', address: e.address, action: e.action, message: e.message });
      else if (e.type === 'apply-done') state.summary = e.summary;
      else if (e.type === 'retry' || e.type === 'lock-takeover' || e.type === 'lock-release-failed') {
        state.lines = [...state.lines, { kind: 'note', text: formatEvent(e, format) ?? '' }];
      } else if (e.type === 'interrupted') {
        // The change that was running when the signal came either finished (change-done) or
        // stopped between batches: nothing is running any more.
        state.running = [];
        state.interrupted = (formatEvent(e, format) ?? '').trim();
      }
      else return;
      instance.rerender(<ApplyProgress {...state} />);
    },
    stop() {
      if (!mounted) return;
      mounted = false;
      instance.unmount();
    },
  };
}
