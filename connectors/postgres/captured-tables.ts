// Are the captured tables still there, and still in the publication? A captured table that was
// renamed keeps its place in the publication under its new name (publications hold tables, not
// names), so its changes arrive under a name the capture does not capture; one that was dropped (or
// dropped and created again) is no longer published at all. Either way its changes stop reaching the
// new tables, which must not go unsaid.
import type { CapturedTable } from '../../services/domain/change-event.ts';
import type { Queryable } from '../../services/runtime/queryable.ts';


export interface CapturedTableProblem {
  table: CapturedTable;
  /** missing: no public."<table>" (dropped or renamed); not_published: it exists but the publication does not hold it */
  problem: 'missing' | 'not_published';
  /** what the publication holds that is not a captured table (where a renamed table went) */
  publishedInstead: string[];
}

/** One query: every captured table that is missing or not in the publication. */
export async function findCapturedTableProblems(db: Queryable, publication: string, tables: readonly CapturedTable[]): Promise<CapturedTableProblem[]> {
  const r = await db.query<{ name: CapturedTable; present: boolean; published: boolean; strangers: string[] }>(
    `SELECT t.name,
            to_regclass(format('public.%I', t.name)) IS NOT NULL AS present,
            EXISTS (SELECT 1 FROM pg_publication_tables p
                     WHERE p.pubname = $1 AND p.schemaname = 'public' AND p.tablename = t.name) AS published,
            ARRAY(SELECT format('%I.%I', p.schemaname, p.tablename) FROM pg_publication_tables p
                   WHERE p.pubname = $1 AND p.schemaname <> 'prestamos_cdc'
                     AND NOT (p.schemaname = 'public' AND p.tablename = ANY($2::text[]))
                   ORDER BY 1) AS strangers
       FROM unnest($2::text[]) AS t(name)
      ORDER BY t.name`,
    [publication, [...tables]],
  );
  return r.rows
    .filter((x) => !x.present || !x.published)
    .map((x) => ({ table: x.name, problem: x.present ? 'not_published' : 'missing', publishedInstead: x.strangers }));
}

/** The problem in words, naming the table: for logs, readiness and the progress report. */
export function describeCapturedTableProblem(p: CapturedTableProblem): string {
  const where = p.publishedInstead.length ? `; the publication holds ${p.publishedInstead.join(', ')} instead (renamed?)` : '';
  return p.problem === 'missing'
    ? `captured table public."${p.table}" does not exist (dropped or renamed)${where}: its changes are not captured`
    : `captured table public."${p.table}" is not in the publication (dropped and created again?)${where}: its changes are not captured`;
}
