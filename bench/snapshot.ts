import type { BenchOptions, BenchResult } from './support.ts';
export async function run(_o: BenchOptions, _args: string[]): Promise<BenchResult> { throw new Error('not yet'); }
