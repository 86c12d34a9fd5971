// What the reconciler may know of the pipeline components running in its own process (the `run`
// command puts capture, sync and reconciler in one): whether a capture streams from the slot here. The
// orchestrator's RunningPipeline has this shape; the reconciler depends on this contract only, not on
// what assembles the pipeline.
export interface LocalPipeline {
  capture?: { getStatus(): { state: string } } | undefined;
}
