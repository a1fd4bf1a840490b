// BigQuery staging: see the BigQueryRowStage class (written next).
import { MlbridgeError } from '../model/errors.js';
import type { RowDiffOptions, RowDiffResult, RowMergeOptions, RowMergeResult, StageTables, StagedRecord } from '../model/staged.js';
import type { BigQueryCalls } from './bigquery-call.js';
import type { Row, RowStage } from './warehouse.js';

export class BigQueryRowStage implements RowStage {
  staged = 0;
  constructor(
    readonly api: BigQueryCalls,
    readonly project: string,
    readonly location: string,
    readonly tables: StageTables,
  ) {}
  append(_records: StagedRecord[]): Promise<void> {
    return Promise.reject(new MlbridgeError('TARGET_ERROR', 'BigQuery staging is not built yet'));
  }
  diff(_o: RowDiffOptions): Promise<RowDiffResult> {
    return Promise.reject(new MlbridgeError('TARGET_ERROR', 'BigQuery staging is not built yet'));
  }
  merge(_o: RowMergeOptions): Promise<RowMergeResult> {
    return Promise.reject(new MlbridgeError('TARGET_ERROR', 'BigQuery staging is not built yet'));
  }
  async close(): Promise<void> {}
}

export async function readRowsByKey(_api: BigQueryCalls, _dataset: string, _table: string, _keys: string[]): Promise<Row[]> {
  throw new MlbridgeError('TARGET_ERROR', 'BigQuery staging is not built yet');
}
