import { DuckDBInstance } from '@duckdb/node-api';
const which = process.argv[2];
const inst = await DuckDBInstance.create('/tmp/mlbridge-bench-reconcile-5000000/wh.duckdb', { access_mode: 'READ_ONLY', memory_limit: process.env.LIM, temp_directory: '/tmp/q5.tmp', preserve_insertion_order: 'false' });
const c = await inst.connect();
const M = `"_mlbridge_memo"."bench.item"`;
await c.run(`CREATE TEMP TABLE st (_key VARCHAR, _version BIGINT, _hash VARCHAR, operation VARCHAR, event_id VARCHAR, event_time VARCHAR, _score DOUBLE, flags VARCHAR, "row" VARCHAR, data VARCHAR, reason VARCHAR, src_print BIGINT)`);
await c.run(`CREATE TEMP TABLE missed (print BIGINT)`);
const rows = `(SELECT * FROM st UNION ALL SELECT _key, CAST(1 AS BIGINT) AS _version, _hash, 'UPSERT' AS operation, CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS VARCHAR) AS event_time, CAST(NULL AS DOUBLE) AS _score, CAST(NULL AS VARCHAR) AS flags, CAST(NULL AS VARCHAR) AS "row", CAST(NULL AS VARCHAR) AS data, CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS BIGINT) AS src_print FROM (SELECT print, _key, _hash FROM ${M} WHERE salt = 'x' OR true) m WHERE print NOT IN (SELECT print FROM temp.main.missed))`;
const t1 = Date.now();
try {
if (which === 'uniq') await c.runAndReadAll(`SELECT count(*) = count(DISTINCT _key) FROM ${rows} WHERE reason IS NULL`);
if (which === 'group') console.error(JSON.stringify((await c.runAndReadAll(`SELECT NOT EXISTS (SELECT 1 FROM ${rows} WHERE reason IS NULL GROUP BY _key HAVING count(*) > 1) AS u`)).getRowObjectsJson()));
if (which === 'full') await c.runAndReadAll(`SELECT category, count(*), min(coalesce(_key, c_key), 5) FROM (SELECT j.*, CASE WHEN j._key IS NULL THEN 'delete' WHEN c_key IS NULL THEN 'insert' WHEN c_hash <> _hash THEN 'update' ELSE 'unchanged' END AS category FROM (SELECT s.*, c._key AS c_key, c._hash AS c_hash, c._version AS c_version FROM ${rows} s FULL JOIN bench.item c ON c._key = s._key) j WHERE (j._key IS NULL AND j.c_version <= 99999999999999999) OR (j._key IS NOT NULL AND j.reason IS NULL)) GROUP BY category`);
if (which === 'fullnocat') await c.runAndReadAll(`SELECT count(*) FROM ${rows} s FULL JOIN bench.item c ON c._key = s._key`);
} catch (e) { console.error(which, String(e).slice(0, 120)); }
console.error(which, 'q', Date.now() - t1);
