// Which rows the background verification found wrong should be re-synced now: the pure rule of
// self-repair (REPAIR_MODE=auto). A finding is a row that differs and is not in flight; it becomes a
// repair when the previous check of the same rows found it wrong too (twice in a row: a row caught
// between two writes of the application is in flight, not wrong, and a single odd check is not
// enough), its target was not re-synced within the cool-down (a re-sync takes a moment to be applied),
// and the rate limit (per hour) has room. Several findings of one loan make one repair of that loan.
// With REPAIR_MODE=off nothing is repaired: the findings that would have been are reported.

/** What a re-sync is about: one loan with its payments and ledger, or a table of shares or fines. */
export type RepairTarget = { kind: 'loan'; loanId: string } | { kind: 'table'; table: 'Accion' | 'Multa' };

export interface Finding {
  /** what is wrong, unique per row: "loan:<id>", "payment:<id>", "ledger:<TYPE>:<id>" */
  key: string;
  /** the re-sync that puts it right; null when it cannot be told (a payment whose loan is unknown) */
  target: RepairTarget | null;
  /** the rows and fields that differ, as the verification reported them (kept in the audit row) */
  detail: Record<string, unknown>;
}

export interface PlannedRepair {
  target: RepairTarget;
  findings: Finding[];
}

export interface RepairPlan {
  repairs: PlannedRepair[];
  /** wrong twice in a row but not repaired now, and why */
  withheld: { target: RepairTarget | null; findings: Finding[]; reason: string }[];
}

export interface RepairPolicy {
  mode: 'off' | 'auto';
  maxPerHour: number;
  /** a target re-synced less than this long ago is not re-synced again */
  cooldownMs: number;
}

export function targetKey(t: RepairTarget): string {
  return t.kind === 'loan' ? `loan:${t.loanId}` : `table:${t.table}`;
}

/**
 * @param previous keys found wrong by the previous check of the same rows
 * @param current what this check found
 * @param history when each target was last re-synced (targetKey → ms), and the times of the repairs of the last hour
 */
export function planRepairs(previous: ReadonlySet<string>, current: Finding[], policy: RepairPolicy, history: { lastRepairAt: ReadonlyMap<string, number>; repairsInLastHour: number }, now: number): RepairPlan {
  const plan: RepairPlan = { repairs: [], withheld: [] };
  const twice = current.filter((f) => previous.has(f.key));
  const byTarget = new Map<string, PlannedRepair>();
  for (const f of twice) {
    if (!f.target) {
      plan.withheld.push({ target: null, findings: [f], reason: 'the row it belongs to is not known: repair by hand' });
      continue;
    }
    const key = targetKey(f.target);
    const entry = byTarget.get(key) ?? { target: f.target, findings: [] };
    entry.findings.push(f);
    byTarget.set(key, entry);
  }
  let room = Math.max(0, policy.maxPerHour - history.repairsInLastHour);
  for (const [key, entry] of [...byTarget].sort(([a], [b]) => a.localeCompare(b))) {
    const last = history.lastRepairAt.get(key);
    if (policy.mode === 'off') plan.withheld.push({ ...entry, reason: 'REPAIR_MODE=off: re-sync it with POST /prestamos/migration/single/:id (a loan) or a table re-sync' });
    else if (last !== undefined && now - last < policy.cooldownMs) plan.withheld.push({ ...entry, reason: `re-synced ${Math.round((now - last) / 1000)} s ago; waiting for that re-sync to be applied` });
    else if (room === 0) plan.withheld.push({ ...entry, reason: `rate limit: ${policy.maxPerHour} repairs per hour reached` });
    else {
      plan.repairs.push(entry);
      room--;
    }
  }
  return plan;
}
