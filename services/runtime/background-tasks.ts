// Loops a process runs beside its requests (the reconciler's background verification and its progress
// samples): each is started by its owner and registered here, and the process stops them all, in
// reverse order of start, before it closes the database they use.
export interface BackgroundTask {
  name: string;
  stop(): Promise<void>;
}

export class BackgroundTasks {
  private readonly tasks: BackgroundTask[] = [];

  add(task: BackgroundTask): void {
    this.tasks.push(task);
  }

  names(): string[] {
    return this.tasks.map((t) => t.name);
  }

  /** Stops every task; a task that fails to stop does not keep the others running. */
  async stopAll(): Promise<{ name: string; error: unknown }[]> {
    const failures: { name: string; error: unknown }[] = [];
    for (const task of [...this.tasks].reverse()) {
      try {
        await task.stop();
      } catch (error) {
        failures.push({ name: task.name, error });
      }
    }
    this.tasks.length = 0;
    return failures;
  }
}
