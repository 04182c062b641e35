import { describe, expect, it } from 'vitest';
import { Admission, AdmissionCancelled } from '../../src/executions/admission.ts';

describe('Admission', () => {
  it('grants slots up to the bound, queues in order, and refuses past the queue', async () => {
    const admission = new Admission(1, 2);
    const first = admission.admit();
    const second = admission.admit();
    const third = admission.admit();
    expect(() => admission.admit()).toThrow(expect.objectContaining({ status: 429, retryAfter: 1 }));
    await first.started;
    const order: string[] = [];
    void second.started.then(() => order.push('second'));
    void third.started.then(() => order.push('third'));
    first.release();
    first.release(); // twice is harmless: it does not free a second slot
    await Promise.resolve();
    expect(order).toEqual(['second']);
    expect(admission.queued).toBe(1);
    second.release();
    await third.started;
    expect(order).toEqual(['second', 'third']);
    third.release();
    expect(admission.running).toBe(0);
  });

  it('lets a queued ticket leave without taking a slot', async () => {
    const admission = new Admission(1, 1);
    const running = admission.admit();
    const queued = admission.admit();
    queued.release();
    await expect(queued.started).rejects.toBeInstanceOf(AdmissionCancelled);
    expect(admission.queued).toBe(0);
    running.release();
    expect(admission.running).toBe(0);
  });
});
