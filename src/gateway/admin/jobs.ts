/**
 * Long console actions (reconciliation, bulk retry) run as jobs: the request that starts one
 * answers at once with its id, and the console polls its progress. In memory; the last 50 kept.
 */
import { randomBytes } from 'node:crypto';
import type { JobInfo } from './api-types.js';

export interface JobProgress {
  step(text: string): void;
  total(n: number): void;
  advance(n?: number): void;
  /** Sets how much is done (for work counted from outside, e.g. deliveries). */
  doneSoFar(n: number): void;
}

const KEEP = 50;

export class JobRunner {
  private readonly jobs = new Map<string, JobInfo>();

  constructor(private readonly logger: { warn(o: object, msg?: string): void }) {}

  start(kind: JobInfo['kind'], step: string, work: (progress: JobProgress) => Promise<unknown>): JobInfo {
    const job: JobInfo = { id: `job_${randomBytes(6).toString('hex')}`, kind, state: 'running', step, done: 0, total: 0, startedAt: new Date().toISOString() };
    this.jobs.set(job.id, job);
    for (const id of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - KEEP))) this.jobs.delete(id);
    const progress: JobProgress = {
      step: (text) => void (job.step = text),
      total: (n) => void (job.total = n),
      advance: (n = 1) => void (job.done += n),
      doneSoFar: (n) => void (job.done = n),
    };
    // Started on the next tick: the caller answers with the job before any work is done.
    setImmediate(() => {
      work(progress).then(
        (result) => {
          job.state = 'done';
          job.result = result;
          job.finishedAt = new Date().toISOString();
        },
        (err: unknown) => {
          job.state = 'failed';
          job.error = err instanceof Error ? err.message : String(err);
          job.finishedAt = new Date().toISOString();
          this.logger.warn({ job: job.id, kind, err: job.error }, 'console job failed');
        },
      );
    });
    return { ...job };
  }

  get(id: string): JobInfo | undefined {
    const job = this.jobs.get(id);
    return job && { ...job };
  }

  /** Jobs still running (the console shows them after a reload). */
  running(): JobInfo[] {
    return [...this.jobs.values()].filter((j) => j.state === 'running').map((j) => ({ ...j }));
  }
}
