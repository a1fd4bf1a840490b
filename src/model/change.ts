// The shape every planned change shares (Terraform's internal/plans): the engine's Plan is a
// union of these, and the adapters that diff their own resources (scheduler/) build them
// without depending on the engine.

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'no-op';

/**
 * Why a change is planned, for display only: apply never reads reasons (it executes the
 * change's own data: ops, replace spec, after-state).
 */
export interface Reason {
  /** Attribute path, e.g. "columns.status.type". */
  path?: string;
  /** A stable rule id, e.g. "type-change-not-widening". */
  rule: string;
  /** Human sentence, e.g. "STRING → INT64 is not a widening BigQuery allows in place". */
  message: string;
  forcesReplacement?: boolean;
}

export interface BaseChange<TType extends string, T> {
  type: TType;
  address: string;
  action: Action;
  before: T | null;
  after: T | null;
  reasons: Reason[];
  /** Drops data or history (drop column, replace, delete). Needs --allow-destructive. */
  destructive: boolean;
  /**
   * Set when the observed resource's deletion protection forbids this change (Terraform's
   * prevent_destroy): the sentence saying why. Apply refuses a plan holding such a change.
   */
  blocked?: string;
}
