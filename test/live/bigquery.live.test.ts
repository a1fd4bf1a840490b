// The foundation plan/apply scenarios against a real BigQuery project (`npm run test:live`).
// Needs MLBRIDGE_LIVE_PROJECT and Application Default Credentials; optional
// MLBRIDGE_LIVE_LOCATION (default US). Each scenario uses a fresh dataset
// mlbridge_live_<random>, deleted with its contents afterwards.
// Without MLBRIDGE_LIVE_PROJECT the suite prints that it skipped and reports a skipped test.
import { suite } from 'uvu';
import { randomBytes } from 'node:crypto';
import { openWarehouse } from '../../src/warehouse/open.js';
import { registerDataScenarios, registerFidelityScenarios, registerScenarios, type ScenarioTarget } from './bigquery-scenarios.js';

const project = process.env.MLBRIDGE_LIVE_PROJECT;
const location = process.env.MLBRIDGE_LIVE_LOCATION || 'US';
export const SKIP_MESSAGE = 'bigquery live suite skipped: set MLBRIDGE_LIVE_PROJECT (and Google Cloud credentials) to run it against a real project';

if (!project) {
  // Reported as skipped (not as a passing test that cannot fail), and said out loud.
  console.log(SKIP_MESSAGE);
  const Suite = suite('BigQuery live suite');
  Suite.skip('the foundation plan/apply scenarios against a real project', () => {});
  Suite.run();
} else {
  // The live suite must reach Google, never a fake.
  delete process.env.BIGQUERY_EMULATOR_HOST;
  const Suite = suite(`BigQuery live suite (project ${project}, ${location})`);
  let dataset = '';
  let opened = false;
  Suite.before.each(() => {
    dataset = `mlbridge_live_${randomBytes(6).toString('hex')}`;
    opened = false;
  });
  Suite.after.each(async () => {
    if (!opened) return; // never reached BigQuery (e.g. CREDENTIALS_MISSING): nothing to clean up
    // Clean up with the official client directly: the dataset and everything in it.
    const { BigQuery } = await import('@google-cloud/bigquery');
    await new BigQuery({ projectId: project, location, autoRetry: false })
      .dataset(dataset)
      .delete({ force: true })
      .catch((e: { code?: number; message?: string }) => {
        // Reported, not thrown: a hook failure would hide the scenario's own error.
        if (e.code !== 404) console.error(`live cleanup: could not delete dataset ${project}:${dataset}: ${e.message}`);
      });
  });
  const target = (): ScenarioTarget => ({
    project,
    dataset,
    location,
    open: async (readOnly) => {
      const w = await openWarehouse({ kind: 'bigquery', project, dataset, location }, { readOnly });
      opened = true;
      return w;
    },
  });
  registerScenarios(Suite, target);
  registerFidelityScenarios(Suite, target);
  registerDataScenarios(Suite, target);
  Suite.run();
}
