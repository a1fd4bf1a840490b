// reconcile.schedule in Cloud Scheduler's own cron dialect: what `validate` accepts and
// refuses, and where it points when it refuses.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cloudSchedulerCronProblem } from '../../src/spec/cron.js';
import { TARGET, cleanup, problems } from './helpers.js';

const reconcileYaml = (schedule: string) => `${TARGET}reconcile:\n  schedule: ${schedule}\n  url: https://x.example/reconcile\n`;

const Dialect = suite('Cloud Scheduler cron dialect');

Dialect('the schedules of its documentation are accepted', () => {
  for (const s of [
    '* * * * *', '*/5 * * * *', '0 9 * * 1-5', '45 23 * * 6', '0 0 1 * *', '0 8,20 * * *', '*/15 9-17 * * 1-5',
    '0 0-23/2 * * *', '0 0 * JAN,JUL *', '0 0 * * SUN', '0 0 * * MON-FRI', '0 0 * * 7', '0 0 31 12 *', '1,2,5-9/2 * * * *',
  ]) {
    assert.is(cloudSchedulerCronProblem(s), undefined, s);
  }
});

Dialect('extensions of other cron flavours, and steps no field can take, are refused with the reason', () => {
  const cases: Array<[string, string]> = [
    ['0 0 L * *', "day-of-month field `L`: `L` (last day) is not part of Cloud Scheduler's cron format"],
    ['0 0 * * 5#3', "day-of-week field `5#3`: `#` (nth weekday of the month) is not part of Cloud Scheduler's cron format"],
    ['0 0 15W * *', "day-of-month field `15W`: `W` (nearest weekday) is not part of Cloud Scheduler's cron format"],
    ['0 0 ? * MON', "day-of-month field `?`: `?` (no specific value) is not part of Cloud Scheduler's cron format"],
    ['0 0 * * 5L', "day-of-week field `5L`: `L` (last day) is not part of Cloud Scheduler's cron format"],
    ['H * * * *', "minute field `H`: `H` (hashed value) is not part of Cloud Scheduler's cron format"],
    ['*/61 * * * *', 'minute field `*/61`: step 61 is larger than the field allows (at most 59 for the minute)'],
    ['*/0 * * * *', 'minute field `*/0`: a step must be at least 1'],
    ['5/15 * * * *', 'minute field `5/15`: a step follows `*` or a range (write `5-59/15`)'],
    ['0 0 * 13 *', 'month field `13`: 13 is out of range (1-12 or JAN-DEC)'],
    ['0 0 0 * *', 'day-of-month field `0`: 0 is out of range (1-31)'],
    ['0 0 * * 8', 'day-of-week field `8`: 8 is out of range (0-7 (0 and 7 are Sunday) or SUN-SAT)'],
    ['0 0 * * mon', 'day-of-week field `mon`: write `MON` in capitals, as Cloud Scheduler expects'],
    ['30-10 * * * *', 'minute field `30-10`: range `30-10` runs backwards; write the smaller value first'],
    ['1,,2 * * * *', 'minute field `1,,2`: empty list item (a stray `,`)'],
    ['@daily', 'Cloud Scheduler does not accept `@` macros; write the five fields (e.g. `0 0 * * *` for @daily)'],
    ['0 0 0 * * *', 'it has 6 fields; a schedule has 5 (minute hour day-of-month month day-of-week)'],
  ];
  for (const [s, message] of cases) assert.is(cloudSchedulerCronProblem(s)?.message, message, s);
});

const Validate = suite('validate on reconcile.schedule');
Validate.after(cleanup);

Validate('`*/61` does not pass validate: the diagnostic names file:line:col of the field and what is wrong', async () => {
  assert.equal(await problems(reconcileYaml('"*/61 * * * *"')), [
    'spec.yaml:4:13: `reconcile.schedule`: `*/61 * * * *` is not a valid Cloud Scheduler schedule: minute field `*/61`: step 61 is larger than the field allows (at most 59 for the minute)',
  ]);
});

Validate('a Quartz `L` is pointed at inside a plain or a quoted scalar', async () => {
  assert.equal(await problems(reconcileYaml('0 3 L * *')), [
    'spec.yaml:4:17: `reconcile.schedule`: `0 3 L * *` is not a valid Cloud Scheduler schedule: day-of-month field `L`: `L` (last day) is not part of Cloud Scheduler\'s cron format',
  ]);
  assert.equal(await problems(reconcileYaml("'0 3 * * 1#2'")), [
    'spec.yaml:4:22: `reconcile.schedule`: `0 3 * * 1#2` is not a valid Cloud Scheduler schedule: day-of-week field `1#2`: `#` (nth weekday of the month) is not part of Cloud Scheduler\'s cron format',
  ]);
});

Validate('an accepted schedule loads trimmed', async () => {
  assert.equal(await problems(reconcileYaml('"  */30 * * * MON-FRI "')), []);
});

Dialect.run();
Validate.run();
