// The benchmark workflows of bench/peers/README.md. Every activity runs on
// the workflow's own task queue with only a 10 s start-to-close timeout (the
// SDK's default retry policy); timer and activity ids are the SDK's own.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type * as activities from './activities';

const { Noop } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

export async function OneActivity(): Promise<number> {
  await Noop();
  return 1;
}

export async function TenSequential(): Promise<number> {
  for (let i = 0; i < 10; i++) {
    await Noop();
  }
  return 10;
}

export async function FanOut100(): Promise<number> {
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 100; i++) {
    calls.push(Noop());
  }
  await Promise.all(calls);
  return 100;
}

export async function FiftyTimers(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    await sleep(1); // 1 ms
  }
  return 50;
}

export async function Park(): Promise<number> {
  await sleep('1 hour');
  return 1;
}
